"""A model version the worker must not load is refused with one log line, and the
worker goes on labeling with the model it had: a model.keras that Keras refuses
(safe_mode), a local copy tampered with and its MANIFEST recomputed, a blob with a
sparse member that would expand to gigabytes, a blob whose member declares more
than it holds. One real worker process sees them all, in turn."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from faults import assert_alive, bbc_texts, make_service, write_csv
from hostile_artifacts import (
    gnu_sparse_blob,
    octal,
    plain,
    recomputed_manifest_copy,
    tar_of,
)
from servers import own_redis_db


def clone(artifact: Path, into: Path, version: str, *, model: Path | None = None) -> Path:
    """A copy of ``artifact`` as another version (its model.keras replaced by ``model``),
    with a manifest of its own: a consistent artifact, registrable."""
    copy = into / version
    shutil.copytree(artifact, copy)
    if model is not None:
        shutil.copyfile(model, copy / "model.keras")
    manifest = json.loads((copy / "MANIFEST.json").read_text())
    manifest["version"] = version
    for name in manifest["files"]:
        data = (copy / name).read_bytes()
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (copy / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return copy


def lambda_model(path: Path) -> Path:
    """A model.keras holding a Lambda layer: Keras refuses it with safe_mode=True."""
    import keras

    inputs = keras.Input((None,), dtype="int32")
    outputs = keras.layers.Lambda(lambda t: keras.ops.cast(t, "float32"))(inputs)
    keras.Model(inputs, outputs).save(path)
    return path


def oversized_blob() -> bytes:
    """A tar of 10 bytes whose one member's header declares 100 MiB."""
    blob = bytearray(tar_of(plain("model.keras", b"A" * 10), fmt=tarfile.USTAR_FORMAT))
    blob[124:136] = octal(100 << 20, 12)
    blob[148:156] = b" " * 8
    blob[148:156] = b"%06o\0 " % sum(blob[:512])
    return bytes(blob)


@pytest.mark.slow
def test_each_refused_version_is_logged_once_and_the_previous_model_keeps_serving(
    pg_url: str, tiny_artifact: Path, bbc_csv: Path, tmp_path: Path, start_worker
) -> None:
    from newsclf.schema.db import make_engine, session_factory
    from newsclf.schema.registry import promote, register_artifact, store_model_blob
    from newsclf.trainer.blobs import artifact_record

    staged = tmp_path / "staged"
    bad = {
        "v-keras-refuses": clone(tiny_artifact, staged, "v-keras-refuses",
                                 model=lambda_model(tmp_path / "lambda.keras")),
        "v-tampered-copy": clone(tiny_artifact, staged, "v-tampered-copy"),
        "v-sparse-blob": clone(tiny_artifact, staged, "v-sparse-blob"),
        "v-oversized-blob": clone(tiny_artifact, staged, "v-oversized-blob"),
    }  # fmt: skip
    texts = bbc_texts(bbc_csv, 5 * (len(bad) + 1))
    with own_redis_db() as redis_url:
        service = make_service(pg_url, redis_url, tiny_artifact, tmp_path)
        v1 = json.loads((tiny_artifact / "MANIFEST.json").read_text())["version"]
        engine = make_engine(pg_url)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            for path in bad.values():
                register_artifact(session, artifact_record(path), activate=False)
            # Someone with write access to the blobs table swaps in hostile bytes.
            store_model_blob(session, "v-sparse-blob", gnu_sparse_blob(3 << 30))
            store_model_blob(session, "v-oversized-blob", oversized_blob())
        # The worker's own cache holds a tampered copy whose manifest was recomputed.
        models = Path(service.env["NEWSCLF_MODELS_DIR"])
        models.mkdir(parents=True, exist_ok=True)
        recomputed_manifest_copy(bad["v-tampered-copy"], models)

        worker = start_worker(service.env)
        pid = worker.proc.pid
        first = service.enqueue(write_csv(tmp_path / "f0.csv", texts[:5]))
        service.wait_done(first, alive=lambda: assert_alive(worker))
        for i, version in enumerate(bad, start=1):
            with sessions.begin() as session:
                promote(session, version, by="test")
            job = service.enqueue(write_csv(tmp_path / f"f{i}.csv", texts[5 * i : 5 * i + 5]))
            done = service.wait_done(job, alive=lambda: assert_alive(worker))
            assert done["labeled"] == 5, (version, done, worker.log()[-3000:])
            served = service.sql(
                "SELECT DISTINCT p.model_version FROM predictions p JOIN job_articles ja"
                " ON ja.article_id = p.article_id WHERE ja.job_id = :job", job=job,
            )  # fmt: skip
            assert [r[0] for r in served] == [v1], version
        engine.dispose()
        log = worker.log()
        for version in bad:
            refused = [line for line in log.splitlines() if f"model refused version={version}:" in line]
            assert len(refused) == 1, (version, log[-3000:])
            assert f"still serving {v1}" in refused[0]
            print(f"\nREFUSED {refused[0].strip()[:300]}")
        assert "more than the blob holds" in log
        assert "Traceback" not in log and worker.proc.pid == pid and worker.proc.poll() is None
        assert log.count("model loaded") == 1
