#include "sim/world.h"

#include <fmt/format.h>

#include <bit>

namespace keel::sim {

bool StorageFaultBudget::within(uint32_t mask) const {
  return static_cast<uint32_t>(std::popcount(mask | wiped_mask_)) <= faults_max_;
}

uint32_t StorageFaultBudget::domain_mask(uint64_t domain) const {
  const auto found = domain_fault_count_.find(domain);
  if (found == domain_fault_count_.end()) return 0;
  uint32_t mask = 0;
  for (uint32_t node = 0; node < 32; node++) {
    if (found->second[node] > 0) mask |= 1u << node;
  }
  return mask;
}

bool StorageFaultBudget::allows(uint32_t node, uint64_t sector_first, uint64_t sector_count) const {
  return allows_ranges(node, {Range{sector_first, sector_count}});
}

bool StorageFaultBudget::allows_both(uint32_t node, uint64_t first_a, uint64_t count_a,
                                     uint64_t first_b, uint64_t count_b) const {
  return allows_ranges(node, {Range{first_a, count_a}, Range{first_b, count_b}});
}

bool StorageFaultBudget::allows_ranges(uint32_t node, std::initializer_list<Range> ranges) const {
  KEEL_ASSERT(node < 32);
  if (faults_max_ == 0) return false;
  uint64_t copies_faulty = 0;
  for (const uint64_t copy : copy_sectors_) {
    bool hit = faulty(node, copy);
    for (const Range& range : ranges) {
      hit = hit || (copy >= range.first && copy < range.first + range.count);
    }
    if (hit) copies_faulty++;
  }
  if (!copy_sectors_.empty() && copies_faulty == copy_sectors_.size()) return false;
  for (const Range& range : ranges) {
    for (uint64_t sector = range.first; sector < range.first + range.count; sector++) {
      if (!within(domain_mask(domain(sector)) | (1u << node))) return false;
    }
  }
  return true;
}

void StorageFaultBudget::mark(uint32_t node, uint64_t sector_first, uint64_t sector_count) {
  KEEL_ASSERT(allows(node, sector_first, sector_count));
  for (uint64_t sector = sector_first; sector < sector_first + sector_count; sector++) {
    uint32_t& mask = sector_faulty_mask_[sector];
    if ((mask & (1u << node)) != 0) continue;  // Already faulty there: counted once.
    mask |= 1u << node;
    node_fault_count_[node]++;
    domain_fault_count_[domain(sector)][node]++;
  }
}

void StorageFaultBudget::heal(uint32_t node, uint64_t sector_first, uint64_t sector_count) {
  KEEL_ASSERT(node < 32);
  if (node_fault_count_[node] == 0) return;  // The common case: nothing to heal.
  for (uint64_t sector = sector_first; sector < sector_first + sector_count; sector++) {
    const auto found = sector_faulty_mask_.find(sector);
    if (found == sector_faulty_mask_.end() || (found->second & (1u << node)) == 0) continue;
    found->second &= ~(1u << node);
    if (found->second == 0) sector_faulty_mask_.erase(found);
    node_fault_count_[node]--;
    const auto counts = domain_fault_count_.find(domain(sector));
    KEEL_ASSERT(counts != domain_fault_count_.end() && counts->second[node] > 0);
    counts->second[node]--;
  }
}

bool StorageFaultBudget::allows_wipe(uint32_t node) const {
  KEEL_ASSERT(node < 32);
  if (faults_max_ == 0 || (wiped_mask_ & (1u << node)) != 0) return false;
  // A wiped disk counts as faulty in every domain. The verdict does not depend on the order of
  // iteration.
  if (!within(1u << node)) return false;
  for (const auto& [domain, counts] : domain_fault_count_) {
    if (!within(domain_mask(domain) | (1u << node))) return false;
  }
  return true;
}

void StorageFaultBudget::mark_wiped(uint32_t node) {
  KEEL_ASSERT(allows_wipe(node));
  wiped_mask_ |= 1u << node;
}

bool StorageFaultBudget::faulty(uint32_t node, uint64_t sector) const {
  KEEL_ASSERT(node < 32);
  if ((wiped_mask_ & (1u << node)) != 0) return true;
  const auto found = sector_faulty_mask_.find(sector);
  return found != sector_faulty_mask_.end() && (found->second & (1u << node)) != 0;
}

bool StorageFaultBudget::node_faulty(uint32_t node) const {
  KEEL_ASSERT(node < 32);
  return (wiped_mask_ & (1u << node)) != 0 || node_fault_count_[node] > 0;
}

uint64_t World::fault_total() const {
  uint64_t total = 0;
  for (uint64_t count : faults_) total += count;
  return total;
}

void World::log_fault(uint32_t node, FaultKind kind, uint64_t detail) const {
  switch (kind) {
    case FaultKind::net_loss:
    case FaultKind::net_duplicate:
    case FaultKind::net_reorder:
    case FaultKind::net_corrupt:
    case FaultKind::net_capacity_drop:
    case FaultKind::disk_slow:
      return;  // per message or per I/O: too many to read
    default:
      break;
  }
  const std::string who = node == io::node_id_none ? std::string("--") : fmt::format("n{}", node);
  fmt::print(stderr, "{:>12.6f} {} fault {} {:#x}\n", static_cast<double>(now_ns()) / 1e9, who,
             fault_kind_name(kind), detail);
}

}  // namespace keel::sim
