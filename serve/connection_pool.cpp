#include "serve/connection_pool.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "support/error.h"

namespace dlc::serve {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// More buffered bytes than any header the HTTP layer takes: handed on for it to refuse.
constexpr size_t kMaxHeaderBytes = 64 * 1024;

/// poll() on one descriptor, again when a signal interrupts it: > 0 if ready.
int pollOne(int fd, short events, milliseconds timeout) {
  pollfd entry = {fd, events, 0};
  int result;
  do {
    result = ::poll(&entry, 1, static_cast<int>(timeout.count()));
  } while (result < 0 && errno == EINTR);
  return result;
}

void socketAddress(const sockaddr_storage& address, std::string& host, int& port) {
  char text[INET6_ADDRSTRLEN] = "";
  char service[16] = "";
  getnameinfo(reinterpret_cast<const sockaddr*>(&address), sizeof address, text, sizeof text,
              service, sizeof service, NI_NUMERICHOST | NI_NUMERICSERV);
  host = text;
  port = std::atoi(service);
}

/// Whether `line` (without its end) can be an HTTP/1 request line; the HTTP layer refuses it
/// at once otherwise, without waiting for a header that will not come.
bool looksLikeRequestLine(std::string_view line) {
  return line.ends_with(" HTTP/1.1\r") || line.ends_with(" HTTP/1.0\r");
}

}  // namespace

std::string hostAndPort(const std::string& host, int port) {
  bool ipv6 = host.find(':') != host.npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Connection::Connection(int socket, milliseconds timeout) : socket_(socket), timeout_(timeout) {
  // Read now: once the client has gone, the socket no longer knows its peer.
  sockaddr_storage storage = {};
  socklen_t length = sizeof storage;
  if (getpeername(socket_, reinterpret_cast<sockaddr*>(&storage), &length) == 0)
    socketAddress(storage, peerAddress_, peerPort_);
}

Connection::~Connection() {
  ::shutdown(socket_, SHUT_RDWR);
  ::close(socket_);
}

ssize_t Connection::read(char* data, size_t size) {
  if (!hasBufferedBytes()) {
    if (pollOne(socket_, POLLIN, timeout_) <= 0) return -1;
    char chunk[4096];
    ssize_t count = ::recv(socket_, chunk, sizeof chunk, 0);
    if (count <= 0) return count < 0 ? -1 : 0;
    buffer_.assign(chunk, static_cast<size_t>(count));
    consumed_ = 0;
  }
  size_t count = std::min(size, buffer_.size() - consumed_);
  std::memcpy(data, buffer_.data() + consumed_, count);
  consumed_ += count;
  return static_cast<ssize_t>(count);
}

ssize_t Connection::write(const char* data, size_t size) {
  size_t written = 0;
  while (written < size) {
    if (pollOne(socket_, POLLOUT, timeout_) <= 0) return -1;
    ssize_t count = ::send(socket_, data + written, size - written, MSG_NOSIGNAL);
    if (count < 0 && errno != EINTR && errno != EAGAIN) return -1;
    if (count > 0) written += static_cast<size_t>(count);
  }
  return static_cast<ssize_t>(size);
}

bool Connection::hasWholeHeader() const {
  std::string_view pending = std::string_view(buffer_).substr(consumed_);
  if (pending.size() >= kMaxHeaderBytes || pending.find("\r\n\r\n") != pending.npos) return true;
  size_t lineEnd = pending.find('\n');
  return lineEnd != pending.npos && !looksLikeRequestLine(pending.substr(0, lineEnd));
}

bool Connection::receiveAvailable() {
  buffer_.erase(0, consumed_);
  consumed_ = 0;
  while (buffer_.size() < kMaxHeaderBytes) {
    char chunk[4096];
    ssize_t count = ::recv(socket_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (count > 0) {
      buffer_.append(chunk, static_cast<size_t>(count));
      continue;
    }
    if (count < 0 && errno == EINTR) continue;
    return count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

void Connection::peerAddress(std::string& address, int& port) const {
  address = peerAddress_;
  port = peerPort_;
}

void Connection::localAddress(std::string& address, int& port) const {
  sockaddr_storage storage = {};
  socklen_t length = sizeof storage;
  getsockname(socket_, reinterpret_cast<sockaddr*>(&storage), &length);
  socketAddress(storage, address, port);
}

std::string Connection::peerName() const {
  std::string address;
  int port = 0;
  peerAddress(address, port);
  return hostAndPort(address, port);
}

ConnectionPool::ConnectionPool(int workers, const ConnectionTimeouts& timeouts,
                               ServeOneRequest serve)
    : timeouts_(timeouts), serve_(std::move(serve)), wakeFd_(eventfd(0, EFD_NONBLOCK)) {
  if (wakeFd_ < 0) fail("serve: cannot create an eventfd: {}", std::strerror(errno));
  waitingRoom_ = std::thread([this] { runWaitingRoom(); });
  for (int i = 0; i < std::max(1, workers); ++i) workers_.emplace_back([this] { runWorker(); });
}

ConnectionPool::~ConnectionPool() {
  stop();
  ::close(wakeFd_);
}

void ConnectionPool::add(int socket) {
  auto connection = std::make_unique<Connection>(socket, timeouts_.read);
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  arriving_.push_back({std::move(connection), Clock::now() + timeouts_.header, true});
  wakeWaitingRoom();
}

void ConnectionPool::wait(std::unique_ptr<Connection> connection, milliseconds timeout) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  arriving_.push_back({std::move(connection), Clock::now() + timeout, false});
  wakeWaitingRoom();
}

void ConnectionPool::wakeWaitingRoom() { eventfd_write(wakeFd_, 1); }

void ConnectionPool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  readyAvailable_.notify_all();
  wakeWaitingRoom();
  if (waitingRoom_.joinable()) waitingRoom_.join();
  for (std::thread& worker : workers_)
    if (worker.joinable()) worker.join();
}

void ConnectionPool::runWaitingRoom() {
  std::vector<Waiting> waiting;
  std::vector<pollfd> descriptors;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;  // the waiting connections close as `waiting` goes
      for (Waiting& arrived : arriving_) waiting.push_back(std::move(arrived));
      arriving_.clear();
    }

    // Wait for bytes on any connection, or the next deadline.
    auto now = Clock::now();
    auto nextDeadline = now + timeouts_.header;
    descriptors.assign(1, {wakeFd_, POLLIN, 0});
    for (const Waiting& entry : waiting) {
      descriptors.push_back({entry.connection->socket(), POLLIN, 0});
      nextDeadline = std::min(nextDeadline, entry.deadline);
    }
    auto timeout = std::chrono::ceil<milliseconds>(std::max(nextDeadline - now, Clock::duration{}));
    if (::poll(descriptors.data(), descriptors.size(), static_cast<int>(timeout.count())) < 0 &&
        errno != EINTR)
      fail("serve: poll() failed: {}", std::strerror(errno));
    eventfd_t ignored;
    if (descriptors[0].revents) eventfd_read(wakeFd_, &ignored);

    // Hand on the whole headers, drop the closed and the late connections.
    now = Clock::now();
    std::vector<Waiting> still;
    for (size_t i = 0; i < waiting.size(); ++i) {
      Waiting& entry = waiting[i];
      bool open = true;
      if (descriptors[i + 1].revents) {
        open = entry.connection->receiveAvailable();
        if (!entry.receiving) {
          entry.receiving = true;
          entry.deadline = now + timeouts_.header;
        }
      }
      // A client that closed after sending a request still gets the answer.
      if (entry.connection->hasWholeHeader() || (!open && entry.connection->hasBufferedBytes())) {
        std::lock_guard lock(mutex_);
        ready_.push_back(std::move(entry.connection));
        readyAvailable_.notify_one();
      } else if (open && now < entry.deadline) {
        still.push_back(std::move(entry));
      }
    }
    waiting = std::move(still);
  }
}

void ConnectionPool::runWorker() {
  while (true) {
    std::unique_ptr<Connection> connection;
    {
      std::unique_lock lock(mutex_);
      readyAvailable_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;  // requests not begun yet are not answered
      connection = std::move(ready_.front());
      ready_.pop_front();
    }

    // Requests that are already here are served at once; otherwise the next one is waited for.
    bool open = true;
    do {
      open = serve_(*connection);
    } while (open && connection->hasWholeHeader());
    if (open) wait(std::move(connection), timeouts_.idle);
  }
}

}  // namespace dlc::serve
