import { InMemorySseBroker } from './in-memory-sse.broker.js';
import { describeSseBroker } from '../../../../test/support/sse-broker.test-suite.js';

describeSseBroker('InMemorySseBroker', { create: () => new InMemorySseBroker() });
