#include "core/child_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace transfix {

namespace {

[[noreturn]] void child_main(const std::function<std::string()>& work, int fd) {
  std::string out;
  try {
    out = work();
  } catch (...) {
    ::_exit(kChildWorkFailed);
  }
  for (size_t done = 0; done < out.size();) {
    const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(kChildWorkFailed);
    done += static_cast<size_t>(n);
  }
  ::_exit(0);
}

}  // namespace

ChildOutcome run_in_child(const std::function<std::string()>& work, int timeout_seconds, uint64_t max_bytes) {
  ChildOutcome r;
  int fds[2];
  if (::pipe(fds) != 0) return r;
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]), ::close(fds[1]);
    return r;
  }
  if (child == 0) {
    ::close(fds[0]);
    child_main(work, fds[1]);
  }
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  char chunk[1 << 16];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{fds[0], POLLIN, 0};
    const int ready = left > 0 ? ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000))) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0 && left <= 0) {
      r.end = ChildOutcome::End::kTimedOut;
      break;
    }
    if (ready == 0) continue;
    const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.output.append(chunk, static_cast<size_t>(n));
    if (r.output.size() > max_bytes) {
      r.end = ChildOutcome::End::kTooMuchOutput;
      break;
    }
  }
  ::close(fds[0]);
  if (r.end != ChildOutcome::End::kNotStarted) ::kill(child, SIGKILL);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (r.end != ChildOutcome::End::kNotStarted) return r;
  if (WIFSIGNALED(status)) {
    r.end = ChildOutcome::End::kSignaled, r.code = WTERMSIG(status);
  } else {
    r.end = ChildOutcome::End::kExited, r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return r;
}

}  // namespace transfix
