"""Pods run as real host processes through the API: exit codes, env, workingDir, logs."""
from __future__ import annotations

from tiphys.controller.api import PODS
from tiphys.controller.nodeagent import Isolation

from .conftest import pod, sh, statuses


async def test_shell_pod_exit_zero_succeeds(harness):
    """A busybox-style shell pod is bound, runs, and reports exit 0 as Succeeded/Completed."""
    async with harness() as h:
        await h.create(pod("ok", sh("main", "echo hello from $HOSTNAME")))
        await h.create(pod("named", sh("main", "hostname")))
        p = await h.finished("ok")
        assert p["spec"]["nodeName"] == "tiphys-local"
        assert p["status"]["phase"] == "Succeeded"
        term = statuses(p)["main"]["state"]["terminated"]
        assert term["exitCode"] == 0 and term["reason"] == "Completed"
        assert term["startedAt"] <= term["finishedAt"]
        assert p["status"]["podIP"] == "127.0.0.1" and p["status"]["hostIP"] == "127.0.0.1"
        assert "startTime" in p["status"]
        conds = {c["type"]: c for c in p["status"]["conditions"]}
        assert conds["PodScheduled"]["status"] == "True"
        assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "PodCompleted"
        assert h.log("ok", "main") == "hello from ok\n"
        await h.finished("named")
        if h.agent.isolation is Isolation.NAMESPACE:  # a UTS namespace comes with the mount namespace
            assert h.log("named", "main") == "named\n"


async def test_shell_pod_exit_three_fails(harness):
    """Exit 3 gives a Failed pod whose container terminated with exitCode 3, reason Error."""
    async with harness() as h:
        await h.create(pod("bad", sh("main", "echo oops >&2; exit 3")))
        p = await h.finished("bad")
        assert p["status"]["phase"] == "Failed"
        term = statuses(p)["main"]["state"]["terminated"]
        assert (term["exitCode"], term["reason"]) == (3, "Error")
        assert h.log("bad", "main") == "oops\n"


async def test_running_state_is_reported(harness):
    """While the command runs the pod is Running and the container has state.running."""
    async with harness() as h:
        await h.create(pod("slow", sh("main", "sleep 30")))
        p = await h.wait_for("slow", lambda p: p["status"].get("phase") == "Running")
        st = statuses(p)["main"]
        assert "running" in st["state"] and st["ready"] is True
        assert st["containerID"].startswith("tiphys://")
        await h.api.delete(PODS, "slow", namespace="default")


async def test_env_and_working_dir(harness, tmp_path):
    """env values, $(VAR) expansion, fieldRef and workingDir reach the process."""
    work = tmp_path / "wd"
    async with harness() as h:
        ctr = sh("main", 'echo "$GREETING|$COMBINED|$POD|$NS|$IP|$(pwd)"; echo $(GREETING) > /dev/null',
                 workingDir=str(work),
                 env=[{"name": "GREETING", "value": "hi"},
                      {"name": "COMBINED", "value": "$(GREETING)-there-$$(GREETING)"},
                      {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                      {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                      {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}])
        await h.create(pod("envy", ctr))
        p = await h.finished("envy")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        assert h.log("envy", "main") == f"hi|hi-there-$(GREETING)|envy|default|127.0.0.1|{work}\n"


async def test_args_expand_env_references(harness):
    """Kubernetes expands $(VAR) in command and args from the container's env."""
    async with harness() as h:
        ctr = {"name": "main", "image": "alpine:3.19", "command": ["echo"], "args": ["$(WHO)", "$(NOPE)"],
               "env": [{"name": "WHO", "value": "world"}]}
        await h.create(pod("argsy", ctr))
        await h.finished("argsy")
        assert h.log("argsy", "main") == "world $(NOPE)\n"


async def test_init_containers_run_in_order_before_main(harness):
    """Init containers run one by one before the containers; a shared emptyDir carries files."""
    async with harness() as h:
        vol = [{"name": "work", "emptyDir": {}}]
        mount = [{"name": "work", "mountPath": "/work"}]
        await h.create(pod("inits", sh("main", "cat /work/order", volumeMounts=mount),
                           init=[sh("one", "echo one >> /work/order", volumeMounts=mount),
                                 sh("two", "echo two >> /work/order", volumeMounts=mount)], volumes=vol))
        p = await h.finished("inits")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        assert [c["name"] for c in p["status"]["initContainerStatuses"]] == ["one", "two"]
        assert h.log("inits", "main") == "one\ntwo\n"


async def test_failed_init_container_fails_the_pod_before_main(harness):
    """A failing init container fails the pod; main never starts (it stays waiting)."""
    async with harness() as h:
        await h.create(pod("initfail", sh("main", "echo never"), init=[sh("init", "exit 2")]))
        p = await h.finished("initfail")
        assert p["status"]["phase"] == "Failed"
        assert statuses(p, "initContainerStatuses")["init"]["state"]["terminated"]["exitCode"] == 2
        assert statuses(p)["main"]["state"]["waiting"]["reason"] == "PodInitializing"


async def test_command_not_found_is_a_start_error(harness):
    """A program that does not exist terminates the container with StartError / 128."""
    async with harness() as h:
        await h.create(pod("nocmd", {"name": "main", "image": "busybox", "command": ["/no/such/program"]}))
        p = await h.finished("nocmd")
        term = statuses(p)["main"]["state"]["terminated"]
        assert (p["status"]["phase"], term["exitCode"], term["reason"]) == ("Failed", 128, "StartError")
        assert "/no/such/program" in term["message"]


async def test_argosay_image_echo_hello(harness):
    """The argosay image runs our built-in argosay; its entrypoint applies when only args are given."""
    async with harness() as h:
        await h.create(pod("say", {"name": "main", "image": "argoproj/argosay:v2", "args": ["echo", "hello"]}))
        await h.create(pod("say2", {"name": "main", "image": "argoproj/argosay:v2",
                                    "command": ["/argosay"], "args": ["echo", "again"]}))
        p = await h.finished("say")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        assert h.log("say", "main") == "hello\n"
        await h.finished("say2")
        assert h.log("say2", "main") == "again\n"


async def test_python_image_runs_the_agents_interpreter(harness):
    """`python3` in a python:* image is the running interpreter."""
    import sys
    async with harness() as h:
        await h.create(pod("py", {"name": "main", "image": "python:3.12-slim",
                                  "command": ["python3", "-c", "import sys; print(sys.executable)"]}))
        p = await h.finished("py")
        assert p["status"]["phase"] == "Succeeded"
        assert h.log("py", "main").strip() == sys.executable


async def test_unknown_image_gives_a_clear_message(harness):
    """An image with no host equivalent: the container waits with ErrImageNeverPull and the pod fails
    with the message naming the image."""
    async with harness() as h:
        await h.create(pod("img", {"name": "main", "image": "ghcr.io/acme/thing:1", "command": ["thing"]}))
        p = await h.finished("img")
        assert p["status"]["phase"] == "Failed"
        waiting = statuses(p)["main"]["state"]["waiting"]
        assert waiting["reason"] == "ErrImageNeverPull"
        assert waiting["message"] == "image ghcr.io/acme/thing:1 has no host equivalent (configure the image map)"
        assert p["status"]["reason"] == "ErrImageNeverPull"
        assert "pod default/img container main" in p["status"]["message"]


async def test_active_deadline_kills_the_pod(harness):
    """activeDeadlineSeconds: processes are killed, the pod Failed with reason DeadlineExceeded."""
    async with harness() as h:
        # a wait, not a speed limit (the phase and reason below tell a killed pod from a finished one)
        await h.create(pod("late", sh("main", "sleep 300"), activeDeadlineSeconds=1))
        p = await h.finished("late", timeout=120)
        assert (p["status"]["phase"], p["status"]["reason"]) == ("Failed", "DeadlineExceeded")
        assert p["status"]["message"] == "Pod was active on the node longer than the specified deadline"
        assert statuses(p)["main"]["state"]["terminated"]["exitCode"] == 143
