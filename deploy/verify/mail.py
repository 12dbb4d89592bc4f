#!/usr/bin/env python3
"""What deploy/verify.sh checks over HTTP: the captured emails (Mailpit's API, or its stand-in's)
against the delivery ledger, and the links in them opened on firstweek-web. Standard library only.

  mail.py wait MAILPIT_URL COUNT SECONDS      wait until at least COUNT emails were captured
  mail.py ledger MAILPIT_URL LEDGER_CSV PREFIX  of the pairs whose id starts with PREFIX: every
                                              email the ledger says was sent captured once, nothing
                                              captured that the ledger does not hold
  mail.py links MAILPIT_URL WEB_URL           open an unsubscribe link (GET shows, one-click POST
                                              acts), an acknowledge link (GET shows, POST acts) and
                                              a coordinator page from the captured emails
"""
import csv
import email
import email.policy
import json
import re
import sys
import time
import urllib.error
import urllib.request


def get(url, data=None, timeout=10):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace"), r.geturl()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), url


def messages(mailpit):
    _, body, _ = get(f"{mailpit}/api/v1/messages?limit=5000")
    return json.loads(body)["messages"]


def parsed(mailpit, summary):
    req = urllib.request.urlopen(f"{mailpit}/api/v1/message/{summary['ID']}/raw", timeout=10)
    return email.message_from_bytes(req.read(), policy=email.policy.default)


def all_parsed(mailpit):
    return [parsed(mailpit, m) for m in messages(mailpit)]


def text_of(msg):
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def wait(mailpit, count, seconds):
    deadline = time.time() + float(seconds)
    n = 0
    while time.time() < deadline:
        try:
            n = len(messages(mailpit))
        except OSError:
            n = 0
        if n >= int(count):
            print(f"{n} emails captured")
            return 0
        time.sleep(1)
    print(f"only {n} of {count} emails captured after {seconds} s")
    return 1


def ledger(mailpit, path, prefix):
    with open(path, newline="") as f:
        sent = {row["message_id"].strip("<>"): row for row in csv.DictReader(f)}
    seen = {}
    for msg in all_parsed(mailpit):
        if not (msg.get("X-Firstweek-Mentorship") or "").startswith(prefix):
            continue
        mid = (msg.get("Message-ID") or "").strip().strip("<>")
        seen[mid] = seen.get(mid, 0) + 1
    twice = {m: n for m, n in seen.items() if n > 1}
    lost = sorted(set(sent) - set(seen))
    unknown = sorted(set(seen) - set(sent))
    steps = {}
    for row in sent.values():
        steps[row["step_id"]] = steps.get(row["step_id"], 0) + 1
    print(f"ledger: {len(sent)} sent; captured: {sum(seen.values())} emails; by step: "
          + ", ".join(f"{k} {v}" for k, v in sorted(steps.items())))
    for m, n in twice.items():
        print(f"  sent twice: {m} ({n} copies)")
    for m in lost:
        print(f"  lost: {m} ({sent[m]['step_id']} for {sent[m]['mentorship_id']})")
    for m in unknown:
        print(f"  captured but not in the ledger: {m}")
    return 1 if twice or lost or unknown else 0


def first_link(msgs, kind, web, step=None):
    pattern = re.compile(re.escape(web) + "/" + kind + r"/[A-Za-z0-9_\-]+")
    for msg in msgs:
        if step and msg.get("X-Firstweek-Step", "") != step:
            continue
        found = pattern.search(text_of(msg))
        if found:
            return found.group(0), msg
    return None, None


def links(mailpit, web):
    msgs = all_parsed(mailpit)
    failures = 0

    def check(what, ok, detail=""):
        nonlocal failures
        print(f"  {'ok' if ok else 'FAILED'}  {what}{': ' + detail if detail and not ok else ''}")
        failures += 0 if ok else 1

    url, msg = first_link(msgs, "u", web)
    check("an email carries an unsubscribe link", url is not None)
    if url:
        status, body, _ = get(url)
        check("GET unsubscribe link shows a page and does not act", status == 200 and "<form" in body, f"{status}")
        status, body, _ = get(url, b"List-Unsubscribe=One-Click")
        check("one-click POST unsubscribes (200)", status == 200, f"{status} {body[:200]}")
        status, body, _ = get(url)
        check("the link then says so", status == 200 and "unsubscribed" in body.lower(), f"{status}")

    url, msg = first_link(msgs, "a", web)
    check("an escalation email carries an acknowledge link", url is not None)
    if url:
        status, body, _ = get(url)
        check("GET acknowledge link shows the escalation", status == 200 and "<form" in body, f"{status}")
        status, body, final = get(url, b"")
        check("POST acknowledges", status == 200 and "acknowledged" in body.lower(), f"{status} {final}")

    url, msg = first_link(msgs, "c", web)
    check("a coordinator email carries a link to the coordinator's page", url is not None)
    if url:
        status, body, _ = get(url)
        check("the coordinator page answers", status == 200 and "<html" in body.lower(), f"{status}")
    return 1 if failures else 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({"wait": wait, "ledger": ledger, "links": links}[cmd](*args))
