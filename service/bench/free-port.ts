// A free TCP port on loopback, for processes that must be told their port before they start (the bench and the
// crash test restart the service on the same port so the simulator's webhook URL stays valid).
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}
