// The connections of `dlc serve` between requests. One waiting thread holds every connection
// until the header of its next request has arrived whole (or the client closed it, or was too
// slow); only then does a worker thread serve the request. A client that sends its header slowly,
// or keeps an idle connection open, holds no worker, so it cannot hold up the others.
// Not there: a slow body still holds its worker, up to the read timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dlc::serve {

/// "host:port", with brackets around an IPv6 address: "[::1]:8080".
std::string hostAndPort(const std::string& host, int port);

/// An accepted socket and the bytes read from it but not consumed yet.
class Connection {
 public:
  /// `timeout`: how long read() and write() wait for the socket.
  Connection(int socket, std::chrono::milliseconds timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Buffered bytes first, then from the socket, waiting up to the timeout: the count read,
  /// 0 at the end of the stream, -1 on an error or a timeout.
  ssize_t read(char* data, size_t size);
  /// All of `data`, or -1.
  ssize_t write(const char* data, size_t size);
  bool hasBufferedBytes() const { return consumed_ < buffer_.size(); }

  /// Whether the buffered bytes hold the whole header of a request (or more than a header may
  /// have, which the HTTP layer refuses).
  bool hasWholeHeader() const;
  /// Reads what the socket has without waiting: false at the end of the stream or on an error.
  bool receiveAvailable();

  int socket() const { return socket_; }
  /// "address:port" of the client ("[address]:port" for IPv6).
  std::string peerName() const;
  void peerAddress(std::string& address, int& port) const;
  void localAddress(std::string& address, int& port) const;

 private:
  int socket_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  size_t consumed_ = 0;
  std::string peerAddress_;
  int peerPort_ = 0;
};

struct ConnectionTimeouts {
  /// A new connection's request header must have arrived by then.
  std::chrono::milliseconds header{5000};
  /// A kept-alive connection with no new request is closed after this.
  std::chrono::milliseconds idle{2000};
  /// Between the bytes of a body, and for the client to take the answer.
  std::chrono::milliseconds read{5000};
};

/// Serves one request from the connection; returns whether the connection stays open.
using ServeOneRequest = std::function<bool(Connection&)>;

class ConnectionPool {
 public:
  ConnectionPool(int workers, const ConnectionTimeouts& timeouts, ServeOneRequest serve);
  /// As stop().
  ~ConnectionPool();

  /// Takes a newly accepted socket (and closes it in the end).
  void add(int socket);

  /// Closes the waiting connections and those whose request is answered; returns when every
  /// request being served has its answer.
  void stop();

 private:
  struct Waiting {
    std::unique_ptr<Connection> connection;
    std::chrono::steady_clock::time_point deadline;
    bool receiving = false;  // some bytes of the next request have arrived
  };

  void wait(std::unique_ptr<Connection> connection, std::chrono::milliseconds timeout);
  void runWaitingRoom();
  void runWorker();
  void wakeWaitingRoom();

  ConnectionTimeouts timeouts_;
  ServeOneRequest serve_;
  int wakeFd_ = -1;  // an eventfd that interrupts the waiting room's poll()

  std::mutex mutex_;
  std::condition_variable readyAvailable_;
  std::vector<Waiting> arriving_;                  // handed to the waiting room, guarded
  std::deque<std::unique_ptr<Connection>> ready_;  // whole headers, for the workers, guarded
  bool stopping_ = false;                          // guarded
  std::thread waitingRoom_;
  std::vector<std::thread> workers_;
};

}  // namespace dlc::serve
