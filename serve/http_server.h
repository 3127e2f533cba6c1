// The socket side of `dlc serve`: cpp-httplib hands every request to handleRequest() and logs one
// line a request. Everything the API answers is decided in request_handler.cpp.
// Not there: TLS and authentication (serve on loopback, or behind a proxy that has them).
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "serve/request_handler.h"

namespace httplib {
class Server;
}

namespace dlc::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  RequestLimits limits;
  /// Connections served at once; a keep-alive connection holds its thread until it closes.
  int connectionThreads = 16;
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
  std::unique_ptr<httplib::Server> server_;
  int listeningSocket_ = -1;
  std::atomic<bool> serving_ = false;
  std::atomic<bool> stopRequested_ = false;
};

}  // namespace dlc::serve
