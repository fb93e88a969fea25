"""Teardown of a torchrun job (``difflab.train.distributed``): a clean exit waits for every
rank; a failed rank leaves at once and takes its peers down, never a hang."""

import os
import signal
import subprocess
import sys

import pytest

SCRIPT = """
import sys, time, torch
import torch.distributed as dist
from difflab.cli import main
from difflab.train.distributed import init_distributed
w = init_distributed()
assert w.size == 2
if {fail!r} and w.rank == 1:
    # a one-line CLI error on this rank (exit status 2) while rank 0 waits in a collective
    sys.exit(main(["generate", "a red circle", "--model", {missing!r}]))
if w.rank == 0:
    time.sleep({delay!r})  # rank 0 still working (saving, say) after rank 1 is done
    t = torch.ones(1)
    dist.all_reduce(t)
    open({done!r}, "w").write(str(t.item()))
else:
    dist.all_reduce(torch.ones(1))
"""


def _torchrun(tmp_path, *, fail, delay=0.0, timeout=180):
    script = tmp_path / "job.py"
    done = tmp_path / "done.txt"
    script.write_text(SCRIPT.format(fail=fail, delay=delay, missing=str(tmp_path / "no-model"), done=str(done)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    with open(tmp_path / "stderr.txt", "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                              str(script)], stdout=subprocess.DEVNULL, stderr=err, env=env)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)  # torchrun passes it on to its workers
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
            pytest.fail(f"the torchrun job was still running after {timeout} s")
    return p.returncode, (tmp_path / "stderr.txt").read_text(), done


@pytest.mark.slow
def test_a_failed_rank_ends_the_job_without_waiting(tmp_path):
    """Rank 1 fails with the CLI's one-line error while rank 0 sits in an all-reduce that rank 1
    will never join: rank 1 must skip the clean-exit barrier, and the job ends with a failure
    status well inside the collective's 30-minute timeout."""
    rc, err, done = _torchrun(tmp_path, fail=True)
    assert rc != 0
    assert "difflab: error:" in err
    assert not done.exists()


@pytest.mark.slow
def test_a_clean_exit_waits_for_the_slower_rank(tmp_path):
    """Both ranks succeed, rank 0 a few seconds after rank 1: the job exits 0 (no abort at
    teardown) and rank 0's last write is there."""
    rc, err, done = _torchrun(tmp_path, fail=False, delay=3.0)
    assert rc == 0, err[-3000:]
    assert done.read_text() == "2.0"
