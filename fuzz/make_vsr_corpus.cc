// Writes seed corpora for superblock_fuzz and wal_fuzz: a freshly formatted superblock zone, and
// a journal holding a few entries (with and without bodies), as the replica writes them.
// Usage: make_vsr_corpus SUPERBLOCK_DIR WAL_DIR

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/vsr/config.h"
#include "core/vsr/header.h"
#include "core/vsr/journal.h"
#include "core/vsr/superblock.h"
#include "fuzz/memory_storage.h"

namespace {

constexpr uint64_t cluster_id = 0x6b65656c;

void save(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

keel::vsr::proto::Header entry(uint64_t op, uint64_t parent, const std::string& body) {
  keel::vsr::proto::Header header = keel::vsr::root_header(cluster_id);
  header.set_op(op);
  header.set_view(1);
  header.set_parent(parent);
  header.set_body_size(body.size());
  header.set_body_checksum(keel::vsr::body_checksum(body));
  header.set_checksum(keel::vsr::header_checksum(header, cluster_id));
  return header;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_vsr_corpus SUPERBLOCK_DIR WAL_DIR\n");
    return 2;
  }
  keel::vsr::proto::SuperblockState state;
  state.set_cluster_id(cluster_id);
  state.set_replica(1);
  state.set_replica_count(3);
  const std::vector<uint8_t> zone = keel::vsr::Superblock::format(state);
  save(std::string(argv[1]) + "/formatted", zone.data(), zone.size());

  const keel::vsr::Config config = keel::fuzz::small_wal_config();
  const keel::vsr::Layout layout(config);
  keel::fuzz::MemoryStorage storage(std::vector<uint8_t>(layout.total_size_bytes, 0));
  keel::vsr::Journal journal(config, storage, cluster_id);
  uint64_t parent = keel::vsr::root_header(cluster_id).checksum();
  for (uint64_t op = 1; op <= 5; op++) {
    const std::string body = "body of op " + std::to_string(op);
    const keel::vsr::proto::Header header = entry(op, parent, body);
    journal.write_entry(header, op == 4 ? std::nullopt : std::optional<std::string>(body),
                        [](bool) {});
    storage.run();
    parent = header.checksum();
  }
  std::vector<uint8_t> bytes(layout.checkpoints_offset_bytes - layout.headers_offset_bytes);
  storage.read(layout.headers_offset_bytes, bytes, [](keel::io::IoStatus) {});
  storage.run();
  save(std::string(argv[2]) + "/five-entries", bytes.data(), bytes.size());
  return 0;
}
