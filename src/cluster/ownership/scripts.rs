//! The Lua scripts Redis runs for the ownership, each as one step: taking,
//! renewing and giving back leases, taking a lock, starting a generation.

/// Every lease script begins here: `KEYS[1]` is the generation, `ARGV[1]` the one
/// this node knows. On a mismatch nothing is done and the current one (or `''`)
/// is returned, for the node to adopt (`Ownership::adopt`).
macro_rules! generation_check {
    () => {
        r"
local generation = redis.call('HGET', KEYS[1], 'id')
if generation ~= ARGV[1] then
  return {'generation', generation or ''}
end
"
    };
}

/// Takes the lease (`KEYS[2]`) when free and the generation is not quiet, renews
/// it when already ours; returns `{'holder', holder}` or `{'quiet', ''}`.
pub(super) const ACQUIRE: &str = concat!(
    generation_check!(),
    r"
local holder = redis.call('GET', KEYS[2])
if not holder then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now < tonumber(redis.call('HGET', KEYS[1], 'quiet_until') or '0') then
    return {'quiet', ''}
  end
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return {'holder', ARGV[2]}
end
if holder == ARGV[2] then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return {'holder', holder}
"
);

/// Renews every lease (`KEYS[2..]`) still ours; returns `{'lost', i, …}` with the
/// 1-based indexes (among the leases) of those lost.
pub(super) const RENEW: &str = concat!(
    generation_check!(),
    r"
local lost = {'lost'}
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[2] then
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  else
    lost[#lost + 1] = tostring(i - 1)
  end
end
return lost
"
);

/// Starts a generation (`ARGV[1]`) unless one exists, quiet for `ARGV[2]` ms
/// (0: not quiet); returns the generation now in place.
pub(super) const ESTABLISH: &str = r"
local current = redis.call('HGET', KEYS[1], 'id')
if current then
  return current
end
local quiet_until = 0
if tonumber(ARGV[2]) > 0 then
  local t = redis.call('TIME')
  quiet_until = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'quiet_until', tostring(quiet_until))
return ARGV[1]
";

/// Deletes each lease that is still ours; returns how many.
pub(super) const RELEASE: &str = r"
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    released = released + redis.call('DEL', key)
  end
end
return released
";

/// Takes a lock (`KEYS[2]`) if free and the generation is not quiet: `SET NX
/// PX`, as a script so that the generation check, taking and the holder's token
/// go together. Returns `{'locked', ''}`, `{'held', ''}` or `{'quiet', ''}` (or
/// the generation check's answer).
pub(super) const LOCK: &str = concat!(
    generation_check!(),
    r"
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'held', ''}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now < tonumber(redis.call('HGET', KEYS[1], 'quiet_until') or '0') then
  return {'quiet', ''}
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return {'locked', ''}
"
);
