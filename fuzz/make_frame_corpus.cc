// Writes the seed corpus of frame_fuzz: valid frames of a few shapes (see frame_fuzz.cc for the
// input layout). Run: build/fuzz/fuzz/make_frame_corpus fuzz/corpus/frame

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "io/frame.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_frame_corpus DIR\n");
    return 2;
  }
  const uint64_t cluster_id = 0x6b65656c;
  const std::vector<std::vector<uint8_t>> bodies = {
      {}, {0x08, 0x01}, std::vector<uint8_t>(300, 0x5a)};
  int index = 0;
  for (const auto& body : bodies) {
    for (uint16_t kind : {1, 3, 65535}) {
      std::vector<uint8_t> input(8);
      std::memcpy(input.data(), &cluster_id, 8);
      keel::io::encode_frame(cluster_id, kind, body, input);
      const std::string path = std::string(argv[1]) + "/frame-" + std::to_string(index++);
      std::FILE* file = std::fopen(path.c_str(), "wb");
      if (file == nullptr) return 1;
      std::fwrite(input.data(), 1, input.size(), file);
      std::fclose(file);
    }
  }
  return 0;
}
