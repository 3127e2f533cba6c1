#include "serve/http_server.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <optional>
#include <thread>

#include "support/error.h"

namespace dlc::serve {

namespace {

using Clock = std::chrono::steady_clock;

/// What a worker thread knows of the request it serves, between cpp-httplib's callbacks: when
/// its header was read, its connection, and whether that must close after the answer (the body
/// was not read, or the request was not HTTP).
thread_local std::optional<Clock::time_point> requestStart;
thread_local const Connection* currentConnection = nullptr;
thread_local bool closeAfterResponse = false;

/// cpp-httplib's stream over a connection of the pool.
class ConnectionStream : public httplib::Stream {
 public:
  explicit ConnectionStream(Connection& connection) : connection_(connection) {}
  bool is_readable() const override { return true; }  // read() waits, up to its timeout
  bool is_writable() const override { return true; }  // write() waits, up to its timeout
  ssize_t read(char* data, size_t size) override { return connection_.read(data, size); }
  ssize_t write(const char* data, size_t size) override { return connection_.write(data, size); }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    connection_.peerAddress(ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    connection_.localAddress(ip, port);
  }
  socket_t socket() const override { return connection_.socket(); }

 private:
  Connection& connection_;
};

/// Runs each task on the thread that enqueues it: cpp-httplib's accept loop, whose task only
/// hands the accepted socket to the connection pool.
class InlineTaskQueue : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> task) override { task(); }
  void shutdown() override {}
};

std::optional<uint64_t> parseLength(const std::string& text) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return {};
  return value;
}

/// A path as it may be printed on one log line: control bytes become '?', long ones are cut.
std::string printablePath(const std::string& path) {
  constexpr size_t kMaxLength = 200;
  std::string result = path.substr(0, kMaxLength);
  for (char& c : result)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return path.size() > kMaxLength ? result + "..." : result;
}

bool hasChunkedBody(const httplib::Request& request) {
  return strcasecmp(request.get_header_value("Transfer-Encoding").c_str(), "chunked") == 0;
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
    case 400:
      // With its header read, what went wrong is the body.
      if (!request.path.empty() && parseLength(request.get_header_value("Content-Length")))
        return fmt::format(
            "the body ended, or stopped coming, before the {} bytes of its "
            "Content-Length",
            request.get_header_value("Content-Length"));
      if (!request.path.empty() && hasChunkedBody(request))
        return "the chunked body is malformed or ended before its last chunk";
      return "malformed HTTP request (expected METHOD /path HTTP/1.1 and headers)";
    default: return fmt::format("HTTP status {}", status);
  }
}

/// The answer to a request whose length is wrong, given before its body is read.
std::optional<HttpResponse> refuseByLength(const httplib::Request& request,
                                           const RequestLimits& limits) {
  size_t lengths = request.get_header_value_count("Content-Length");
  if (lengths > 1) return errorResponse(400, "more than one Content-Length header");
  if (lengths == 1) {
    std::string text = request.get_header_value("Content-Length");
    std::optional<uint64_t> length = parseLength(text);
    if (!length)
      return errorResponse(400, fmt::format("Content-Length must be a number of bytes, got \"{}\"",
                                            printablePath(text)));
    bool form = request.get_header_value("Content-Type") == "application/x-www-form-urlencoded";
    size_t limit =
        form ? std::min<size_t>(limits.maxBodyBytes, CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH)
             : limits.maxBodyBytes;
    if (*length > limit) return errorResponse(413, refusalMessage(request, 413, limits));
    return std::nullopt;
  }

  // Without a length, cpp-httplib would read the body until the client closes the connection.
  bool takesBody = request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
  if (hasChunkedBody(request) || !takesBody) return std::nullopt;
  if (auto refusal = routeError(request.method, request.path)) return refusal;
  return errorResponse(411, fmt::format("{} {} needs a body with a Content-Length header",
                                        request.method, printablePath(request.path)));
}

/// What a log line says of a request that was not HTTP.
std::string describeMalformed(const httplib::Request& request, int status) {
  std::string from = currentConnection ? " from " + currentConnection->peerName() : "";
  if (status == 414) return "request line over the limit" + from;
  std::string line = request.method;
  for (const std::string* part : {&request.target, &request.version})
    if (!part->empty()) line += " " + *part;
  return fmt::format("malformed request line \"{}\"{}", printablePath(line), from);
}

void writeResponse(const HttpResponse& answer, httplib::Response& response) {
  response.status = answer.status;
  response.set_content(answer.body, answer.contentType);
  if (!answer.allow.empty()) response.set_header("Allow", answer.allow);
}

}  // namespace

/// cpp-httplib's server, except that the connection pool holds the connections it accepts.
class ApiServer : public httplib::Server {
 public:
  void setConnections(ConnectionPool* connections) { connections_ = connections; }

  /// Serves the next request of `connection`; returns whether the connection stays open.
  bool serveOne(Connection& connection) {
    ConnectionStream stream(connection);
    currentConnection = &connection;
    closeAfterResponse = false;
    bool closedByClient = false;
    bool answered = process_request(stream, false, closedByClient, nullptr);
    currentConnection = nullptr;
    return answered && !closedByClient && !closeAfterResponse;
  }

 private:
  bool process_and_close_socket(socket_t socket) override {
    connections_->add(socket);
    return true;
  }

  ConnectionPool* connections_ = nullptr;
};

std::string serverUrl(const std::string& host, int port) {
  return "http://" + hostAndPort(host, port) + "/";
}

HttpServer::HttpServer(Predictor& predictor, std::string_view page, const ServerOptions& options)
    : context_{predictor, options.limits, page},
      options_(options),
      server_(std::make_unique<ApiServer>()),
      connections_(std::make_unique<ConnectionPool>(
          options.connectionThreads, options.timeouts,
          [this](Connection& connection) { return server_->serveOne(connection); })) {
  server_->setConnections(connections_.get());
  server_->new_task_queue = [] { return new InlineTaskQueue(); };
  server_->set_payload_max_length(options.limits.maxBodyBytes);
  // Only cpp-httplib's last request on a connection (the 10,000th) says "Connection: close".
  server_->set_keep_alive_max_count(10000);
  server_->set_keep_alive_timeout(
      std::chrono::duration_cast<std::chrono::seconds>(options.timeouts.idle).count());
  // Not cpp-httplib's default options, which set SO_REUSEPORT: with it a second server on the
  // same port would start and share the traffic. SO_REUSEADDR only lets a restarted server bind
  // while connections of the last one linger. cpp-httplib writes a response's headers and body
  // separately: with Nagle's algorithm the body would wait for the client's delayed ACK of the
  // headers, 40 ms on Linux. Accepted sockets inherit TCP_NODELAY from the listening one, the
  // only socket this is called for.
  server_->set_socket_options([this](socket_t socket) {
    int on = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    listeningSocket_ = socket;
  });

  // Before cpp-httplib reads the body: a wrong length is answered at once, and the connection,
  // whose unread body would be taken for the next request, closes after the answer.
  server_->set_pre_routing_handler(
      [this](const httplib::Request& request, httplib::Response& response) {
        requestStart = Clock::now();
        if (auto refusal = refuseByLength(request, context_.limits)) {
          writeResponse(*refusal, response);
          closeAfterResponse = true;
          // cpp-httplib's own request object (not const there): its answer then says it closes.
          const_cast<httplib::Request&>(request).set_header("Connection", "close");
          return httplib::Server::HandlerResponse::Handled;
        }
        // cpp-httplib reads the body of these methods only; another one's would be taken for
        // the next request.
        bool readsBody = request.method == "POST" || request.method == "PUT" ||
                         request.method == "PATCH" || request.method == "DELETE";
        if (!readsBody && request.has_header("Content-Length") &&
            request.get_header_value("Content-Length") != "0")
          closeAfterResponse = true;
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
        // Whatever follows a request that was not HTTP is not either.
        if (request.path.empty()) closeAfterResponse = true;
        if (response.body.empty())
          writeResponse(errorResponse(response.status,
                                      refusalMessage(request, response.status, context_.limits)),
                        response);
        return httplib::Server::HandlerResponse::Handled;
      }));

  if (options.log) {
    server_->set_logger(
        [log = options.log](const httplib::Request& request, const httplib::Response& response) {
          double milliseconds =
              requestStart
                  ? std::chrono::duration<double, std::milli>(Clock::now() - *requestStart).count()
                  : 0.0;
          requestStart.reset();
          auto now = fmt::gmtime(std::time(nullptr));
          if (request.path.empty())
            fmt::print(log, "{:%Y-%m-%dT%H:%M:%S}Z - - {} {:.2f} ms ({})\n", now, response.status,
                       milliseconds, describeMalformed(request, response.status));
          else
            fmt::print(log, "{:%Y-%m-%dT%H:%M:%S}Z {} {} {} {:.2f} ms\n", now, request.method,
                       printablePath(request.path), response.status, milliseconds);
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
    fail("serve: cannot listen on {}: {}", hostAndPort(options_.host, options_.port),
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
  connections_->stop();
  serving_ = false;
}

void HttpServer::stop() {
  stopRequested_ = true;
  // cpp-httplib ignores a stop() that comes before the server runs.
  while (serving_ && !server_->is_running()) std::this_thread::yield();
  server_->stop();
}

}  // namespace dlc::serve
