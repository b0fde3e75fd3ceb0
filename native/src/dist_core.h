// c10d process groups (TCPStore or FileStore rendezvous, Gloo on CPU, NCCL where the libtorch has CUDA) and their
// collectives, each bounded by a timeout. No N-API and no policy here: ranks, addresses, timeouts, what to reduce and
// how to react to a failure are decided in src/dist/.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace drhard {

struct DistGroup;

// init: "tcp://host:port" (rank 0 hosts the TCPStore unless `externalStore`, e.g. torchrun's agent store) or
// "file:///path" (a FileStore on a shared filesystem). heartbeatMs > 0 starts a thread that bumps this rank's
// counter in the store (TCP only) so that peers can name a dead or stopped rank; 0 disables it.
std::shared_ptr<DistGroup> distInit(const std::string& init, int rank, int world, int64_t timeoutMs,
                                    const std::string& backend, bool externalStore, int64_t heartbeatMs,
                                    const std::string& prefix);
int distRank(const DistGroup& g);
int distWorld(const DistGroup& g);
std::string distBackend(const DistGroup& g);
// op: 0 sum, 1 min, 2 max, 3 product. In place on every tensor (one coalesced call when several are given).
void distAllReduce(DistGroup& g, std::vector<at::Tensor>& ts, int op, int64_t timeoutMs);
// Same-shaped tensors from every rank, in rank order (variable sizes are padded by the caller).
std::vector<at::Tensor> distAllGather(DistGroup& g, const at::Tensor& t, int64_t timeoutMs);
void distBroadcast(DistGroup& g, at::Tensor& t, int root, int64_t timeoutMs);
void distBarrier(DistGroup& g, int64_t timeoutMs);
// Key/value in the group's store (a separate prefix from c10d's own keys).
void distStoreSet(DistGroup& g, const std::string& key, const std::string& value);
std::string distStoreGet(DistGroup& g, const std::string& key, int64_t timeoutMs);
// Ranks whose heartbeat counter did not move during `watchMs` (empty when heartbeats are off); -1 in the result
// means the store itself (rank 0's TCPStore) is unreachable.
std::vector<int> distStaleRanks(DistGroup& g, int64_t watchMs);
// Stops the heartbeat; `destroy` joins the group's threads (may block while a collective is stuck), otherwise the
// group is leaked on purpose so that a process exiting after a failure cannot hang in a destructor.
void distShutdown(std::shared_ptr<DistGroup>& g, bool destroy);
bool distNcclAvailable();

// A bare TCPStore server, as torchrun's agent hosts one for its workers (TORCHELASTIC_USE_AGENT_STORE=True); port 0
// lets the OS choose. It serves until the returned object is released.
struct DistStoreServer;
std::shared_ptr<DistStoreServer> distServeStore(int port, int64_t timeoutMs);
int distServedPort(const DistStoreServer& s);

}  // namespace drhard
