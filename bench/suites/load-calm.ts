/** Issue 13's load condition `calm` (see bench/harness/condition.ts): `npm run bench -- load-calm`. */
import { loadSuite } from '../load/suite.ts';

export default loadSuite('calm');
