// The least a worker thread can be: it says it is up, then stays alive (the listener
// keeps its event loop open) until terminated. The baseline for agent start-up and memory.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', () => {});
parentPort.postMessage('ready');
