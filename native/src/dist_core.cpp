// c10d process groups and bounded collectives (see dist_core.h). Every wait has a deadline: Gloo's own op timeout
// is set to the same value, so a worker thread stuck on a dead peer is released too.
#include "dist_core.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef DRHARD_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace drhard {

using ms = std::chrono::milliseconds;

struct DistGroup {
  int rank = 0;
  int world = 1;
  std::string backend;
  std::string host;
  uint16_t port = 0;
  bool tcp = false;
  std::string prefix;
  c10::intrusive_ptr<c10d::Store> store;      // c10d's keys
  c10::intrusive_ptr<c10d::Store> userStore;  // drhard's keys (config hashes, heartbeats)
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::thread heartbeat;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
};

namespace {

bool startsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

void waitWork(const c10::intrusive_ptr<c10d::Work>& work, int64_t timeoutMs, const char* what) {
  try {
    work->wait(ms(timeoutMs));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(what) + " failed: " + e.what());
  }
}

c10d::ReduceOp reduceOp(int op) {
  switch (op) {
    case 0: return c10d::ReduceOp::SUM;
    case 1: return c10d::ReduceOp::MIN;
    case 2: return c10d::ReduceOp::MAX;
    case 3: return c10d::ReduceOp::PRODUCT;
  }
  throw std::invalid_argument("unknown reduce op " + std::to_string(op));
}

c10::intrusive_ptr<c10d::Store> tcpClient(const DistGroup& g, int64_t timeoutMs) {
  c10d::TCPStoreOptions o;
  o.port = g.port;
  o.isServer = false;
  o.waitWorkers = false;
  o.timeout = ms(timeoutMs);
  return c10::make_intrusive<c10d::PrefixStore>(g.prefix + "/drhard",
                                                c10::make_intrusive<c10d::TCPStore>(g.host, o));
}

std::string hbKey(int r) { return "hb/" + std::to_string(r); }

}  // namespace

std::shared_ptr<DistGroup> distInit(const std::string& init, int rank, int world, int64_t timeoutMs,
                                    const std::string& backend, bool externalStore, int64_t heartbeatMs,
                                    const std::string& prefix) {
  if (world < 1 || rank < 0 || rank >= world)
    throw std::invalid_argument("rank " + std::to_string(rank) + " outside world size " + std::to_string(world));
  if (timeoutMs <= 0) throw std::invalid_argument("timeout must be positive");
  auto g = std::make_shared<DistGroup>();
  g->rank = rank;
  g->world = world;
  g->backend = backend;
  g->prefix = prefix;
  c10::intrusive_ptr<c10d::Store> base;
  if (startsWith(init, "tcp://")) {
    const std::string hp = init.substr(6);
    const auto colon = hp.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument("tcp init needs host:port, got " + init);
    g->host = hp.substr(0, colon);
    if (g->host.size() > 2 && g->host.front() == '[' && g->host.back() == ']') g->host = g->host.substr(1, g->host.size() - 2);
    const int port = std::stoi(hp.substr(colon + 1));
    if (port <= 0 || port > 65535) throw std::invalid_argument("bad port in " + init);
    g->port = static_cast<uint16_t>(port);
    g->tcp = true;
    c10d::TCPStoreOptions o;
    o.port = g->port;
    o.isServer = rank == 0 && !externalStore;
    o.numWorkers = externalStore ? c10::nullopt : c10::optional<std::size_t>(world);
    o.waitWorkers = false;
    o.timeout = ms(timeoutMs);
    base = c10::make_intrusive<c10d::TCPStore>(g->host, o);
  } else if (startsWith(init, "file://")) {
    base = c10::make_intrusive<c10d::FileStore>(init.substr(7), world);
    base->setTimeout(ms(timeoutMs));
  } else {
    throw std::invalid_argument("init method must be tcp://host:port or file:///path, got " + init);
  }
  g->store = c10::make_intrusive<c10d::PrefixStore>(prefix + "/c10d", base);
  g->userStore = c10::make_intrusive<c10d::PrefixStore>(prefix + "/drhard", base);
  if (backend == "gloo") {
    auto opts = c10d::ProcessGroupGloo::Options::create(ms(timeoutMs));
    // Loopback and hostname: the hostname device falls back to loopback when the name does not resolve.
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, rank, world, opts);
  } else if (backend == "nccl") {
#ifdef DRHARD_WITH_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = ms(timeoutMs);
    g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, rank, world, opts);
#else
    throw std::invalid_argument("backend nccl: this addon was built against a libtorch without CUDA");
#endif
  } else {
    throw std::invalid_argument("unknown backend " + backend + " (gloo or nccl)");
  }
  if (heartbeatMs > 0 && g->tcp) {
    auto client = tcpClient(*g, timeoutMs);  // its own connection: store clients are not shared across threads
    client->set(hbKey(rank), std::vector<uint8_t>{'0'});
    DistGroup* raw = g.get();
    g->heartbeat = std::thread([raw, client, heartbeatMs]() {
      std::unique_lock<std::mutex> lk(raw->mu);
      while (!raw->stop) {
        lk.unlock();
        try {
          client->add(hbKey(raw->rank), 1);
        } catch (...) {
          // The store host is gone; peers find out from their own failed collectives.
        }
        lk.lock();
        raw->cv.wait_for(lk, ms(heartbeatMs), [raw] { return raw->stop; });
      }
    });
  }
  return g;
}

int distRank(const DistGroup& g) { return g.rank; }
int distWorld(const DistGroup& g) { return g.world; }
std::string distBackend(const DistGroup& g) { return g.backend; }

void distAllReduce(DistGroup& g, std::vector<at::Tensor>& ts, int op, int64_t timeoutMs) {
  for (auto& t : ts)
    if (!t.is_contiguous()) throw std::invalid_argument("allReduce needs contiguous tensors");
  c10d::AllreduceOptions o;
  o.reduceOp = reduceOp(op);
  o.timeout = ms(timeoutMs);
  for (auto& t : ts) {
    std::vector<at::Tensor> one{t};
    waitWork(g.pg->allreduce(one, o), timeoutMs, "allReduce");
  }
}

std::vector<at::Tensor> distAllGather(DistGroup& g, const at::Tensor& t, int64_t timeoutMs) {
  std::vector<at::Tensor> in{t.contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < g.world; r++) out[0].push_back(at::empty_like(in[0]));
  c10d::AllgatherOptions o;
  o.timeout = ms(timeoutMs);
  waitWork(g.pg->allgather(out, in, o), timeoutMs, "allGather");
  return out[0];
}

void distBroadcast(DistGroup& g, at::Tensor& t, int root, int64_t timeoutMs) {
  if (!t.is_contiguous()) throw std::invalid_argument("broadcast needs a contiguous tensor");
  if (root < 0 || root >= g.world) throw std::invalid_argument("broadcast root outside the world");
  std::vector<at::Tensor> one{t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = ms(timeoutMs);
  waitWork(g.pg->broadcast(one, o), timeoutMs, "broadcast");
}

void distBarrier(DistGroup& g, int64_t timeoutMs) {
  c10d::BarrierOptions o;
  o.timeout = ms(timeoutMs);
  waitWork(g.pg->barrier(o), timeoutMs, "barrier");
}

void distStoreSet(DistGroup& g, const std::string& key, const std::string& value) {
  g.userStore->set(key, std::vector<uint8_t>(value.begin(), value.end()));
}

std::string distStoreGet(DistGroup& g, const std::string& key, int64_t timeoutMs) {
  // Polls check() rather than wait(timeout): a TCPStore wait that times out leaves the server's late answer in the
  // socket, and the next command would read it.
  const auto deadline = std::chrono::steady_clock::now() + ms(timeoutMs);
  while (!g.userStore->check({key})) {
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("timeout waiting for store key " + key);
    std::this_thread::sleep_for(ms(20));
  }
  auto v = g.userStore->get(key);
  return std::string(v.begin(), v.end());
}

std::vector<int> distStaleRanks(DistGroup& g, int64_t watchMs) {
  std::vector<int> stale;
  if (!g.heartbeat.joinable()) return stale;
  try {
    auto client = tcpClient(g, std::max<int64_t>(watchMs, 1000));
    std::vector<int64_t> before(g.world);
    for (int r = 0; r < g.world; r++) before[r] = client->add(hbKey(r), 0);
    std::this_thread::sleep_for(ms(watchMs));
    for (int r = 0; r < g.world; r++)
      if (r != g.rank && client->add(hbKey(r), 0) == before[r]) stale.push_back(r);
  } catch (...) {
    stale.assign(1, -1);
  }
  return stale;
}

void distShutdown(std::shared_ptr<DistGroup>& g, bool destroy) {
  if (!g) return;
  {
    std::lock_guard<std::mutex> lk(g->mu);
    g->stop = true;
  }
  g->cv.notify_all();
  if (destroy) {
    if (g->heartbeat.joinable()) g->heartbeat.join();
    g.reset();
  } else {
    if (g->heartbeat.joinable()) g->heartbeat.detach();
    new std::shared_ptr<DistGroup>(std::move(g));  // leaked on purpose (see dist_core.h)
  }
}

struct DistStoreServer {
  c10::intrusive_ptr<c10d::TCPStore> store;
};

std::shared_ptr<DistStoreServer> distServeStore(int port, int64_t timeoutMs) {
  if (port < 0 || port > 65535) throw std::invalid_argument("bad port " + std::to_string(port));
  if (timeoutMs <= 0) throw std::invalid_argument("timeout must be positive");
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(port);
  o.isServer = true;
  o.numWorkers = c10::nullopt;
  o.waitWorkers = false;
  o.timeout = ms(timeoutMs);
  auto s = std::make_shared<DistStoreServer>();
  s->store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
  return s;
}

int distServedPort(const DistStoreServer& s) { return s.store->getPort(); }

bool distNcclAvailable() {
#ifdef DRHARD_WITH_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace drhard
