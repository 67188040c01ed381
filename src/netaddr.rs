//! Client addresses for per-address limits: CIDR ranges (`TRUSTED_PROXIES`),
//! `X-Forwarded-For` from trusted proxies only, and IPv6 clients keyed by their /64.
//!
//! Pure functions, so the rules are unit-tested without a server.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// An address range such as `10.0.0.0/8` or `fd00::/8`; a bare address is a /32
/// (IPv4) or /128 (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR` or `ADDR/PREFIX`. Host bits set below the prefix are cleared
    /// (`10.1.2.3/8` is `10.0.0.0/8`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (raw, None),
        };
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{raw:?} is not an IP address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max && !p.trim().starts_with('+') => n,
                _ => return Err(format!("{raw:?} has a bad prefix length (0-{max})")),
            },
        };
        Ok(Self {
            network: mask(network, prefix),
            prefix,
        })
    }

    /// Whether `ip` lies in the range. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

/// Parses a comma-separated list of ranges (`TRUSTED_PROXIES`); blanks are skipped.
pub fn parse_cidr_list(raw: &str) -> Result<Vec<Cidr>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Cidr::parse)
        .collect()
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

/// IPv4-mapped IPv6 addresses become IPv4 (a dual-stack listener reports them).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            raw.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse::<Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })
        .map(canonical)
}

/// The client's address. `X-Forwarded-For` (`forwarded_for`: its header values
/// in order) is read only when the TCP `peer` is a trusted proxy; then the client
/// is the right-most hop that is not itself trusted. Hops are appended by each
/// proxy, so anything left of that hop was written by the client and is ignored.
/// A hop that does not parse ends the walk at the last trusted address.
///
/// The header is split hop by hop on its raw bytes: a byte that is not text in
/// the client-written part (left of the hops the proxies appended) spoils only
/// that hop, never the proxies' hops to its right.
pub fn client_addr<V: AsRef<[u8]>>(peer: IpAddr, forwarded_for: &[V], trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for
        .iter()
        .rev()
        .flat_map(|value| value.as_ref().rsplit(|b| *b == b','))
    {
        let Some(ip) = std::str::from_utf8(hop).ok().and_then(parse_hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// The key for per-address limits: an IPv4 address as is, an IPv6 address by its
/// /64 (one subscriber's allocation; keying by /128 would give one client 2^64 keys).
pub fn throttle_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        v6 => format!("{}/64", mask(v6, 64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let net = Cidr::parse("10.1.2.3/8").unwrap();
        assert!(net.contains(ip("10.200.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.9.9.9")));
        let one = Cidr::parse(" 192.168.1.7 ").unwrap();
        assert!(one.contains(ip("192.168.1.7")));
        assert!(!one.contains(ip("192.168.1.8")));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12:3456::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!(!all.contains(ip("2001:db8::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
    }

    #[test]
    fn bad_cidrs_are_refused() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "abc",
            "10.0.0/8",
            "10.0.0.0/8/8",
            "1.2.3.4:80",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cidr_list(" 10.0.0.0/8, ,::1 ").unwrap().len(), 2);
        assert!(parse_cidr_list("10.0.0.0/8,nope").is_err());
        assert!(parse_cidr_list("").unwrap().is_empty());
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let trusted = parse_cidr_list("10.0.0.0/8").unwrap();
        assert_eq!(
            client_addr(ip("203.0.113.9"), &["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_addr(ip("10.0.0.2"), &["198.51.100.1"], &[]),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = parse_cidr_list("10.0.0.0/8, 2001:db8:ffff::/48").unwrap();
        // The client forged the left-most entry; the proxy appended the real one.
        assert_eq!(
            client_addr(ip("10.0.0.2"), &["1.1.1.1, 198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        // Two proxies, across two header lines.
        assert_eq!(
            client_addr(
                ip("10.0.0.2"),
                &["6.6.6.6, 198.51.100.7", "10.0.0.3"],
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_addr(ip("10.0.0.2"), &["[2001:db8::5]:443"], &trusted),
            ip("2001:db8::5")
        );
        assert_eq!(
            client_addr(ip("10.0.0.2"), &["198.51.100.7:5555"], &trusted),
            ip("198.51.100.7")
        );
        // Only trusted hops: the left-most one.
        assert_eq!(
            client_addr(ip("10.0.0.2"), &["10.0.0.9, 10.0.0.8"], &trusted),
            ip("10.0.0.9")
        );
        // No header, or garbage right of any client: the last trusted address.
        assert_eq!(
            client_addr::<&str>(ip("10.0.0.2"), &[], &trusted),
            ip("10.0.0.2")
        );
        // One byte that is not text, left of the proxy's hop, spoils only its own hop.
        assert_eq!(
            client_addr(
                ip("10.0.0.2"),
                &[&b"1.1.1.\xff, 198.51.100.7"[..]],
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_addr(ip("10.0.0.2"), &["1.1.1.1, garbage"], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_addr(ip("10.0.0.2"), &["garbage, 10.0.0.7"], &trusted),
            ip("10.0.0.7")
        );
        assert_eq!(
            client_addr(ip("::ffff:10.0.0.2"), &["198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_slash_64() {
        assert_eq!(throttle_key(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(throttle_key(ip("::ffff:203.0.113.9")), "203.0.113.9");
        let a = throttle_key(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, throttle_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_ne!(a, throttle_key(ip("2001:db8:1:3::1")));
    }
}
