#pragma once
// VSR (core/vsr) replicating the KV state machine (workloads/kv), as a protocol under test: the
// real replica and client code, unchanged, against simulated nodes; the KV workload records the
// history the linearizability checker judges; every commit feeds the convergence checker.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/vsr/config.h"
#include "sim/protocol.h"

namespace keel::sim {

// The replica configuration a simulated run uses: the guide's timeouts, with the sizes shrunk so
// that WAL wrap-around, checkpoints, state transfer and client eviction happen within a short
// run. Varied by the profile, so a sweep covers several shapes.
vsr::Config vsr_sim_config(const Profile& profile);

// How the simulated clients reach the cluster: the native VSR client, or the Redis-compatible
// front door's session code (RESP bytes in and out) over it.
enum class VsrFront : uint8_t { native, resp };

class VsrProtocol final : public ProtocolUnderTest {
 public:
  explicit VsrProtocol(VsrFront front = VsrFront::native);
  ~VsrProtocol() override;

  std::string_view name() const override { return front_ == VsrFront::resp ? "vsr-resp" : "vsr"; }
  uint32_t replicas_min() const override { return 1; }
  uint32_t replicas_max() const override { return 6; }
  uint64_t disk_size_bytes() const override;

  void setup(const Profile& profile, RunContext& context) override;
  void format(io::NodeId replica, uint64_t cluster_id, SimDisk& disk) override;
  std::unique_ptr<Process> start_replica(io::NodeId replica, io::Env env) override;
  std::unique_ptr<Process> start_client(io::NodeId client, io::Env env) override;
  uint64_t fault_domain(uint64_t sector) const override;
  std::vector<uint64_t> copy_sectors() const override;
  bool converged(std::span<const io::NodeId> core) override;
  std::optional<io::NodeId> leader() const override;
  std::optional<std::string> check_final() override;
  std::vector<std::pair<std::string, uint64_t>> counters() const override;

  struct Shared;

 private:
  const VsrFront front_;
  std::unique_ptr<Shared> shared_;
};

}  // namespace keel::sim
