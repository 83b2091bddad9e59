"""A warm run asks the engine little: one image listing per build stage, one container listing to
stop what killed runs left on many jobs."""

import docker.errors

from conftest import DATA
from harness.config import matrix as matrix_mod
from harness.core.cache import Cache
from harness.envs import bases, engine, images, numerics
from harness.envs.runner import Runner, _job_labels
from harness.envs.wheels import Lock


class FakeAPI:
    """The low-level calls the harness makes, recorded."""

    def __init__(self, images=(), containers=()):
        self.rows, self.running, self.calls, self.removed = list(images), list(containers), [], []

    def images(self):
        self.calls.append("images")
        return self.rows

    def containers(self, all=False, filters=None):
        self.calls.append(("containers", dict(filters or {})))
        return self.running

    def remove_container(self, container, force=False):
        self.removed.append(container)


class FakeClient:
    """A docker client whose images.get answers from {tag: id} and records what it was asked."""

    def __init__(self, api, known=None):
        self.api, self.known, self.asked = api, dict(known or {}), []
        self.images = self

    def get(self, tag):
        self.asked.append(tag)
        if tag not in self.known:
            raise docker.errors.ImageNotFound(tag)
        return engine.Listed(self.known[tag])


def test_find_image_answers_from_the_listing_and_asks_the_engine_only_for_the_rest():
    api = FakeAPI(images=[{"Id": "sha256:a", "RepoTags": ["x:1", "x:latest"]}, {"Id": "sha256:b", "RepoTags": None}])
    client = FakeClient(api, known={"y:2": "sha256:c"})
    listed = engine.list_images(client)
    assert listed == {"x:1": "sha256:a", "x:latest": "sha256:a"}
    assert engine.find_image(client, "x:1", listed).id == "sha256:a" and client.asked == []
    assert engine.find_image(client, "y:2", listed).id == "sha256:c"  # built since the listing
    assert engine.find_image(client, "z:3", listed) is None and client.asked == ["y:2", "z:3"]


def test_stopping_many_jobs_lists_containers_once_and_removes_only_theirs():
    key = f"{engine.LABEL}.job"
    mine = [_job_labels(job)[key] for job in ("a", "b")]
    api = FakeAPI(containers=[{"Id": "1", "Labels": {key: mine[0]}}, {"Id": "2", "Labels": {key: "another run's"}},
                              {"Id": "3", "Labels": {key: mine[1]}}, {"Id": "4", "Labels": None}])
    Runner("docker", FakeClient(api)).stop_jobs(["a", "b"])
    assert api.calls == [("containers", {"label": key})] and api.removed == ["1", "3"]
    Runner("docker", FakeClient(api)).stop_jobs([])
    assert len(api.calls) == 1


def test_a_build_stage_with_every_image_there_lists_images_once(monkeypatch, tmp_path):
    two = matrix_mod.load(DATA / "two-envs.toml", "two")
    locks = [Lock(env.id, "in", (("w.whl", "0" * 64),)) for env in two.envs]
    base = two.base.format(python="3.11")
    tags = {base: "sha256:base"}
    tags.update({images.image_tag(env, lock, "sha256:base"): f"sha256:{env.id}" for env, lock in zip(two.envs, locks)})
    api = FakeAPI(images=[{"Id": image_id, "RepoTags": [tag]} for tag, image_id in tags.items()])
    client = FakeClient(api)
    monkeypatch.setattr(numerics, "runtime_env", lambda *args: ())
    monkeypatch.setattr(bases, "HOST_ARCH", "amd64")
    built = images.build_all(client, two, locks, Cache(tmp_path), say=lambda line: None)
    assert [b.cached for b in built] == [True, True] and api.calls == ["images"] and client.asked == []
