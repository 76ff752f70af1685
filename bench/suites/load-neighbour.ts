/** Issue 13's load condition `neighbour` (see bench/harness/condition.ts): `npm run bench -- load-neighbour`. */
import { loadSuite } from '../load/suite.ts';

export default loadSuite('neighbour');
