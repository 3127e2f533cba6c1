#!/usr/bin/env python3
"""A bounded load test of `dlc serve` on loopback: CLIENTS threads, each on its own keep-alive
connection, send REQUESTS requests in all to POST /v1/predict (one pair each, from the talk's six
pairs with a varying suffix), and one in 50 of them is a bad request that must get a 400. Prints
the throughput and the p50/p90/p99 latency; exits 1 on any wrong answer, refused connection or
timeout.

    python3 scripts/serve_load_test.py --port PORT [--clients 8] [--requests 4000]
"""

import argparse
import http.client
import json
import statistics
import sys
import threading
import time

TALK_PAIRS = [
    ("How do I become a good geologist?", "What should I do to be a great geologist?"),
    ("How can I see all my YouTube comments?", "How can you see all of your YouTube comments?"),
    ("How can I make physics easy to learn?", "How do I make learning physics easy?"),
    ("How can I increase my internet speed by hacking through DNS?",
     "How can I increase my internet speed over a VPN?"),
    ("What is the best way to invest in the share market in India?",
     "What is the best way to invest in the share market?"),
    ("How do I get over my ex's past?", "How do I get over my ex?"),
]
BAD_EVERY = 50
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def request_body(index):
    """The body of request `index`: a good one, or every BAD_EVERY-th a wrongly typed one."""
    if index % BAD_EVERY == BAD_EVERY - 1:
        return json.dumps({"pairs": [[TALK_PAIRS[0][0], index]]}), 400
    first, second = TALK_PAIRS[index % len(TALK_PAIRS)]
    return json.dumps({"pairs": [[f"{first} {index % 97}", second]]}), 200


def run_client(host, port, indices, deadline, latencies, failures):
    connection = http.client.HTTPConnection(host, port, timeout=10)
    for index in indices:
        if time.monotonic() > deadline:
            failures.append("the test ran past its time limit")
            return
        body, expected_status = request_body(index)
        start = time.perf_counter()
        try:
            connection.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError) as error:
            failures.append(f"request {index}: {error!r}")
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=10)
            continue
        latencies.append(time.perf_counter() - start)

        if response.status != expected_status:
            failures.append(f"request {index}: status {response.status}, expected "
                            f"{expected_status}: {answer}")
        elif expected_status == 200:
            probabilities = answer.get("probabilities")
            if (not isinstance(probabilities, list) or len(probabilities) != 1
                    or not 0.0 <= probabilities[0] <= 1.0):
                failures.append(f"request {index}: not one probability: {answer}")
        elif "error" not in answer:
            failures.append(f"request {index}: a {response.status} without an error: {answer}")
    connection.close()


def percentile(sorted_values, fraction):
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--time-limit", type=float, default=180, help="seconds, at most")
    options = parser.parse_args()
    if options.host not in LOOPBACK:
        sys.exit("serve_load_test: only loopback addresses are load-tested")

    latencies, failures = [], []
    deadline = time.monotonic() + options.time_limit
    clients = [
        threading.Thread(target=run_client,
                         args=(options.host, options.port,
                               range(client, options.requests, options.clients), deadline,
                               latencies, failures))
        for client in range(options.clients)
    ]
    start = time.perf_counter()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    seconds = time.perf_counter() - start

    latencies.sort()
    if latencies:
        milliseconds = [1000 * value for value in latencies]
        print(f"load test: {len(latencies)} requests from {options.clients} clients in "
              f"{seconds:.2f} s: {len(latencies) / seconds:.0f} requests/s; latency p50 "
              f"{percentile(milliseconds, 0.50):.2f} ms, p90 {percentile(milliseconds, 0.90):.2f} "
              f"ms, p99 {percentile(milliseconds, 0.99):.2f} ms, max {milliseconds[-1]:.2f} ms, "
              f"mean {statistics.fmean(milliseconds):.2f} ms")
    if len(latencies) != options.requests:
        failures.append(f"{len(latencies)} of {options.requests} requests were answered")
    for failure in failures[:20]:
        print(f"load test: FAILED: {failure}", file=sys.stderr)
    if failures:
        print(f"load test: {len(failures)} failures", file=sys.stderr)
        return 1
    print(f"load test: no errors ({options.requests // BAD_EVERY} bad requests refused with 400 "
          "as expected)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
