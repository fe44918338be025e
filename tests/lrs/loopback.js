'use strict';
// Preload (`node --require ./loopback.js dist/server.js`) that pins every TCP listener of the
// process to 127.0.0.1. xapi-statements calls `app.listen(port)` with no host, which would
// bind all interfaces; a test LRS that accepts any credentials must never be reachable from
// the network. Anything this module cannot pin (a unix socket path, an inherited handle)
// is refused rather than passed through.
const net = require('net');

const LOOPBACK = '127.0.0.1';
const originalListen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  const callbacks = args.filter((arg) => typeof arg === 'function');
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback]): keep the port and callback, force the host.
    return originalListen.call(this, Number(first), LOOPBACK, ...callbacks);
  }
  if (first !== null && typeof first === 'object' && 'port' in first && !('path' in first)) {
    return originalListen.call(this, { ...first, host: LOOPBACK }, ...callbacks);
  }
  throw new Error('loopback.js: refusing a listen() call it cannot pin to ' + LOOPBACK);
};
