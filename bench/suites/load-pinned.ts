/** Issue 13's load condition `pinned` (see bench/harness/condition.ts): `npm run bench -- load-pinned`. */
import { loadSuite } from '../load/suite.ts';

export default loadSuite('pinned');
