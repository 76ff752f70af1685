// synckit starts its worker from a file path of its choosing, with no way to pass the
// real entry along, so the .ts worker gets this fixed bootstrap. It hands the entry to
// the bench's generic bootstrap, which explains why .ts workers need one.
import process from 'node:process';
import { URL } from 'node:url';

process.argv.push(new URL('./synckit.worker.ts', import.meta.url).href);
await import('../harness/worker-bootstrap.mjs');
