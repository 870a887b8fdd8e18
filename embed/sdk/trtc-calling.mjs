// The ES-module face of the callbox SDK (docs/sdk.md):
//
//   import TRTCCalling from '/sdk/trtc-calling.mjs';
//
// It runs the classic script next to it, which defines globalThis.TRTCCalling,
// and exports that class. A page that also loads the classic script gets
// the same class both ways.
import './trtc-calling.js';

export default globalThis.TRTCCalling;
