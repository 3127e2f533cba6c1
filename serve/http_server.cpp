#include "serve/http_server.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <optional>
#include <thread>

#include "support/error.h"

namespace dlc::serve {

namespace {

using Clock = std::chrono::steady_clock;

/// When the request that this connection thread is serving arrived (its headers were read):
/// cpp-httplib serves a connection's requests one after another on one thread.
thread_local std::optional<Clock::time_point> requestStart;

/// A path as it may be printed on one log line: control bytes become '?', long ones are cut.
std::string printablePath(const std::string& path) {
  constexpr size_t kMaxLength = 200;
  std::string result = path.substr(0, kMaxLength);
  for (char& c : result)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return path.size() > kMaxLength ? result + "..." : result;
}

/// What to tell a client about a request that cpp-httplib refused before handleRequest() saw it.
std::string refusalMessage(const httplib::Request& request, int status,
                           const RequestLimits& limits) {
  switch (status) {
    case 413:
      // cpp-httplib parses form bodies, which it limits to a few KiB: `curl -d` sends them.
      if (request.get_header_value("Content-Type") == "application/x-www-form-urlencoded")
        return fmt::format(
            "the body is over the limit of {} bytes for Content-Type "
            "application/x-www-form-urlencoded; send application/json",
            std::min<size_t>(limits.maxBodyBytes, CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH));
      return fmt::format("the body is over the limit of {} bytes", limits.maxBodyBytes);
    case 414: return "the request URI is too long";
    case 400: return "malformed HTTP request";
    default: return fmt::format("HTTP status {}", status);
  }
}

void writeResponse(const HttpResponse& answer, httplib::Response& response) {
  response.status = answer.status;
  response.set_content(answer.body, answer.contentType);
  if (!answer.allow.empty()) response.set_header("Allow", answer.allow);
}

}  // namespace

HttpServer::HttpServer(Predictor& predictor, std::string_view page, const ServerOptions& options)
    : context_{predictor, options.limits, page},
      options_(options),
      server_(std::make_unique<httplib::Server>()) {
  auto threads = static_cast<size_t>(std::max(1, options.connectionThreads));
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(options.limits.maxBodyBytes);
  server_->set_keep_alive_max_count(10000);
  // An idle keep-alive connection holds a thread, and delays stopping, this long at most.
  server_->set_keep_alive_timeout(2);
  // cpp-httplib writes a response's headers and body separately: with Nagle's algorithm the body
  // would wait for the client's delayed ACK of the headers, 40 ms on Linux. Accepted sockets
  // inherit the option from the listening one, the only socket this is called for.
  server_->set_socket_options([this](socket_t socket) {
    httplib::default_socket_options(socket);
    int on = 1;
    setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    listeningSocket_ = socket;
  });

  server_->set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    requestStart = Clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Every method and path goes to the handler, which knows the endpoints.
  auto handle = [this](const httplib::Request& request, httplib::Response& response) {
    writeResponse(handleRequest({request.method, request.path, request.body}, context_), response);
  };
  for (auto route : {&httplib::Server::Get, &httplib::Server::Post, &httplib::Server::Put,
                     &httplib::Server::Patch, &httplib::Server::Delete, &httplib::Server::Options})
    (server_.get()->*route)(".*", handle);

  // Called for every status >= 400; the handler's own errors already have their JSON body.
  server_->set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& request, httplib::Response& response) {
        if (response.body.empty())
          writeResponse(errorResponse(response.status,
                                      refusalMessage(request, response.status, context_.limits)),
                        response);
        return httplib::Server::HandlerResponse::Handled;
      }));

  if (options.log) {
    server_->set_logger([log = options.log](const httplib::Request& request,
                                            const httplib::Response& response) {
      double milliseconds =
          requestStart
              ? std::chrono::duration<double, std::milli>(Clock::now() - *requestStart).count()
              : 0.0;
      requestStart.reset();
      fmt::print(log, "{:%Y-%m-%dT%H:%M:%S}Z {} {} {} {:.2f} ms\n", fmt::gmtime(std::time(nullptr)),
                 request.method, printablePath(request.path), response.status, milliseconds);
      std::fflush(log);
    });
  }
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  int port = options_.port;
  errno = 0;
  if (port == 0)
    port = server_->bind_to_any_port(options_.host);
  else if (!server_->bind_to_port(options_.host, port))
    port = -1;
  if (port < 0)
    // errno tells of the socket calls; a host that does not resolve leaves it meaningless.
    fail("serve: cannot listen on {}:{}: {}", options_.host, options_.port,
         errno == EADDRINUSE || errno == EACCES || errno == EADDRNOTAVAIL
             ? std::strerror(errno)
             : "not an address of this machine");
  // Debian's cpp-httplib listens with a backlog of 5: more clients connecting at once would see
  // their SYNs dropped and retried a second later. Listening again sets a longer queue.
  ::listen(listeningSocket_, SOMAXCONN);
  return port;
}

void HttpServer::serve() {
  serving_ = true;
  if (!stopRequested_) server_->listen_after_bind();
  serving_ = false;
}

void HttpServer::stop() {
  stopRequested_ = true;
  // cpp-httplib ignores a stop() that comes before the server runs.
  while (serving_ && !server_->is_running()) std::this_thread::yield();
  server_->stop();
}

}  // namespace dlc::serve
