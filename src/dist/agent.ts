// A bare TCPStore server, as torchrun's elastic agent hosts one for its workers: with TORCHELASTIC_USE_AGENT_STORE=True
// in their environment every rank, rank 0 included, connects to it as a client (src/dist/group.ts distEnv). drhard
// itself never needs one; tests use it to stand in for torchrun's agent without Python.
import { native, type StoreServerHandle } from '../native/addon.ts';

export class StoreServer {
  readonly port: number;
  #h: StoreServerHandle | null;

  private constructor(h: StoreServerHandle, port: number) {
    this.#h = h;
    this.port = port;
  }

  /** Listens on `port` (0: the OS picks; read `.port`). */
  static serve(port = 0, timeoutMs = 30_000): StoreServer {
    const [h, p] = native.distServeStore(port, timeoutMs);
    return new StoreServer(h, p);
  }

  close(): void {
    if (this.#h === null) return;
    const h = this.#h;
    this.#h = null;
    native.distCloseStore(h);
  }
  [Symbol.dispose](): void {
    this.close();
  }
}
