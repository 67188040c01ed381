// @confab/client: the generated REST SDK (src/generated, @hey-api/openapi-ts) and the
// hand-written realtime module.
export * from './generated/index.js';
export { client } from './generated/client.gen.js';
export { createClient, createConfig } from './generated/client/index.js';
// The realtime frame types share names with the (REST) components, so they live under `frames`.
export { CloseCode, Realtime, RealtimeClosed, RealtimeError } from './realtime.js';
export type { RealtimeOptions, WebSocketLike } from './realtime.js';
export * as frames from './realtime.js';
