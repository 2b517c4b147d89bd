// The admin HTTP endpoint: request parsing, and a live server on loopback on both backends.

#include "runtime/admin_http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "runtime/testing.h"

namespace keel::runtime {
namespace {

TEST(HttpRequestPath, CompleteGetRequestsOnly) {
  EXPECT_EQ(http_request_path("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), "/metrics");
  EXPECT_EQ(http_request_path("GET /health/ready?x=1 HTTP/1.0\r\n\r\n"), "/health/ready");
  EXPECT_EQ(http_request_path("GET /metrics HTTP/1.1\r\nHost: x\r\n"), "");  // more to come
  EXPECT_EQ(http_request_path("POST /metrics HTTP/1.1\r\n\r\n"), "!");
  EXPECT_EQ(http_request_path("GET metrics HTTP/1.1\r\n\r\n"), "!");
  EXPECT_EQ(http_request_path("GET /metrics SPDY/3\r\n\r\n"), "!");
  EXPECT_EQ(http_request_path("\r\n\r\n"), "!");
}

class AdminHttpTest : public testing::LoopTest {};

// A blocking client on another thread: the server's loop runs on this one.
std::string fetch(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return "";
  if (write(fd, request.data(), request.size()) < 0) return "";
  std::string response;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0)
    response.append(buffer, static_cast<size_t>(n));
  close(fd);
  return response;
}

TEST_P(AdminHttpTest, ServesPathsAndRefusesBadRequests) {
  std::string error;
  Loop* loop = loop_.get();
  const sockaddr_in address = testing::free_loopback_addresses(1)[0];
  const uint16_t port = ntohs(address.sin_port);
  auto server = AdminHttp::create(
      *loop, address,
      [](std::string_view path) {
        if (path == "/metrics") return HttpResponse{200, "text/plain", "up 1\n"};
        return HttpResponse{404, "text/plain", "no\n"};
      },
      error);
  ASSERT_NE(server, nullptr) << error;
  std::string responses[4];
  const std::string requests[4] = {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                                   "GET /other HTTP/1.1\r\n\r\n", "DELETE / HTTP/1.1\r\n\r\n",
                                   std::string(AdminHttp::request_size_bytes_max + 10, 'x')};
  std::thread client([&] {
    for (int i = 0; i < 4; i++) responses[i] = fetch(port, requests[i]);
  });
  const uint64_t deadline_ns = Loop::monotonic_ns() + 10 * io::ns_per_s;
  while (server->requests_served() < 4 && Loop::monotonic_ns() < deadline_ns) {
    loop->run_once(10 * io::ns_per_ms);
  }
  // The last response may still be on its way out.
  for (int i = 0; i < 20; i++) loop->run_once(5 * io::ns_per_ms);
  server->stop();
  loop->run_until([&] { return server->idle(); });
  client.join();
  EXPECT_NE(responses[0].find("HTTP/1.0 200 OK"), std::string::npos) << responses[0];
  EXPECT_NE(responses[0].find("\r\n\r\nup 1\n"), std::string::npos) << responses[0];
  EXPECT_NE(responses[1].find("HTTP/1.0 404"), std::string::npos) << responses[1];
  EXPECT_NE(responses[2].find("HTTP/1.0 400"), std::string::npos) << responses[2];
  EXPECT_NE(responses[3].find("HTTP/1.0 431"), std::string::npos) << responses[3];
}

INSTANTIATE_TEST_SUITE_P(Backends, AdminHttpTest, ::testing::Values(Backend::uring, Backend::epoll),
                         [](const auto& info) { return std::string(backend_name(info.param)); });

}  // namespace
}  // namespace keel::runtime
