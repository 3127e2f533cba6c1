// The socket side of `dlc serve`: cpp-httplib parses each request that the connection pool
// (connection_pool.h) hands on, checks its length before reading its body, hands it to
// handleRequest() and logs one line a request. Everything the API answers is decided in
// request_handler.cpp.
// Not there: TLS and authentication (serve on loopback, or behind a proxy that has them).
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "serve/connection_pool.h"
#include "serve/request_handler.h"

namespace dlc::serve {

class ApiServer;

/// The address of the page: "http://127.0.0.1:8080/", "http://[::1]:8080/".
std::string serverUrl(const std::string& host, int port);

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  RequestLimits limits{};
  /// Requests served at once; a connection between requests holds no thread.
  int connectionThreads = 16;
  ConnectionTimeouts timeouts{};
  /// One line a request (time, method, path, status, latency); nullptr: quiet.
  std::FILE* log = stdout;
};

class HttpServer {
 public:
  /// The page of `GET /` must outlive the server.
  HttpServer(Predictor& predictor, std::string_view page, const ServerOptions& options);
  ~HttpServer();

  /// Binds the listening socket; returns its port (the one picked when options.port is 0).
  /// Throws dlc::Error if the address cannot be bound.
  int bind();

  /// Serves on the bound socket until stop() is called (from any thread).
  void serve();
  void stop();

 private:
  ServiceContext context_;
  ServerOptions options_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<ConnectionPool> connections_;
  int listeningSocket_ = -1;
  std::atomic<bool> serving_ = false;
  std::atomic<bool> stopRequested_ = false;
};

}  // namespace dlc::serve
