/** Issue 13's load condition `crowd` (see bench/harness/condition.ts): `npm run bench -- load-crowd`. */
import { loadSuite } from '../load/suite.ts';

export default loadSuite('crowd');
