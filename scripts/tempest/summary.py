"""Summarises a tempest run for scripts/tempest/run.sh.

usage: summary.py RESULTS.subunit SELECTED_TESTS EXCLUDE_LIST

RESULTS.subunit  the run's subunit v2 stream (`stestr last --subunit`)
SELECTED_TESTS   every test id the run's regex selects, before the exclude list (`tempest run --list-tests`)
EXCLUDE_LIST     the exclude list (`regex # reason` lines)

Prints the excluded tests with their reasons, the skipped ones with theirs, the failures with the
last line of each traceback, and last the line `tempest: N passed, N failed, N skipped, N excluded`.
Exit status 1 when a test failed or nothing passed, else 0.
"""
import re
import sys

import subunit
import testtools

results_path, selected_path, exclude_path = sys.argv[1:4]


def short(test_id):
    # Drop the [id-…,smoke] attributes: the names are long enough.
    return re.sub(r"\[.*\]$", "", test_id)


excludes = []
with open(exclude_path) as f:
    for line in f:
        regex, _, reason = line.strip().partition("#")
        if regex.strip():
            excludes.append((re.compile(regex.strip()), reason.strip() or "excluded by " + regex.strip()))

with open(selected_path) as f:
    selected = [line.strip() for line in f if re.match(r"^[\w.]+\.test_\w+", line.strip())]

excluded = []
for test_id in selected:
    for regex, reason in excludes:
        if regex.search(test_id):
            excluded.append((test_id, reason))
            break

tests = {}


def on_test(test):
    # 'exists' records come from listing; a test's final record wins.
    if test["status"] not in ("exists", "inprogress", None):
        tests[test["id"]] = test


result = testtools.StreamToDict(on_test)
result.startTestRun()
with open(results_path, "rb") as f:
    subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout").run(result)
result.stopTestRun()


def detail(test, name):
    content = test["details"].get(name)
    if content is None:
        return ""
    try:
        return "".join(content.iter_text())
    except Exception:
        return b"".join(content.iter_bytes()).decode("utf-8", "replace")


passed, failed, skipped = [], [], []
excluded_ids = {test_id for test_id, _ in excluded}
for test_id, test in sorted(tests.items()):
    status = test["status"]
    if status in ("success", "xfail"):
        passed.append(test_id)
    elif status == "skip":
        reason = detail(test, "reason").strip() or "(no reason given)"
        # A class whose skip_checks() skips it is one result, "setUpClass (module.Class)":
        # count and list each of its selected tests instead.
        m = re.match(r"^setUpClass \((.+)\)$", test_id)
        if m:
            members = [t for t in selected if t.startswith(m.group(1) + ".") and t not in excluded_ids]
            skipped.extend((t, reason) for t in members or [test_id])
        else:
            skipped.append((test_id, reason))
    else:  # fail, uxsuccess
        tb = detail(test, "traceback").strip().splitlines()
        lines = [l.strip() for l in tb if l.strip()]
        last = lines[-1] if lines else status
        # tempest's exceptions end "…Unauthorized: Unauthorized" then "Details: {…}": keep both.
        if last.startswith("Details:") and len(lines) > 1:
            last = lines[-2] + " " + last
        failed.append((test_id, last))


# A selected test with no result at all (a pass that never ran, a worker that died) is a failure,
# never silence.
accounted = {short(t) for t in passed} | {short(t) for t, _ in failed} | {short(t) for t, _ in skipped} | {short(t) for t in excluded_ids}
not_run = [t for t in selected if short(t) not in accounted]


def by_reason(entries):
    """Prints the tests grouped under each reason, so that a long reason is printed once."""
    groups = {}
    for test_id, reason in entries:
        groups.setdefault(reason, []).append(short(test_id))
    for reason, ids in groups.items():
        print(f"  {reason} ({len(ids)}):")
        for test_id in sorted(ids):
            print(f"    {test_id}")


if excluded:
    print(f"excluded ({len(excluded)}, by scripts/tempest/exclude-list.txt):")
    by_reason(excluded)
if skipped:
    print(f"skipped ({len(skipped)}):")
    by_reason(skipped)
if failed:
    print(f"FAILED ({len(failed)}):")
    for test_id, last in failed:
        print(f"  {short(test_id)}: {last[:300]}")
if not_run:
    print(f"DID NOT RUN ({len(not_run)}): selected, not excluded, and no result")
    for test_id in sorted(not_run)[:50]:
        print(f"  {short(test_id)}")
not_run_text = f", {len(not_run)} did not run" if not_run else ""
print(f"tempest: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped, {len(excluded)} excluded{not_run_text}")
sys.exit(1 if failed or not_run or not passed else 0)
