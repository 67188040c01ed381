// The SDK loads the `ws` package only in Node; the browser build never does
// (esbuild marks it external), so its types are not needed here.
declare const WS: unknown;
export default WS;
