// Standalone entry of the Cloud API simulator (`npm run simulator`): listens on SIMULATOR_PORT (default 9090)
// and prints one JSON line `{"url": ...}`. Numbers, faults and outcomes are set through the `/__sim/` routes.

import { CloudApiSimulator } from './simulator/cloud-api-simulator';

const port = Number(process.env.SIMULATOR_PORT ?? 9090);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`SIMULATOR_PORT must be a port number, got "${process.env.SIMULATOR_PORT}"`);
  process.exit(1);
}

const simulator = new CloudApiSimulator();
const url = await simulator.listen(port, process.env.SIMULATOR_HOST ?? '127.0.0.1');
process.stdout.write(`${JSON.stringify({ url })}\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void simulator.close().then(() => process.exit(0));
  });
}
