"""Where /dev/kvm cannot be opened, the host engine says why (runs on every machine)."""

from __future__ import annotations

import errno

import pytest

import workbench.kvm
from workbench.hostkvm import HostKvm, HostUnavailable, device, host_unavailable_reason


@pytest.fixture
def missing_device(monkeypatch, tmp_path):
    monkeypatch.setattr(device, "KVM_DEVICE", str(tmp_path / "kvm"))


@pytest.fixture
def unreadable_device(monkeypatch, tmp_path):
    path = tmp_path / "kvm"
    path.write_bytes(b"")
    real_open = device.os.open

    def refuse(name, *args, **kwargs):
        if name == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(device, "KVM_DEVICE", str(path))
    monkeypatch.setattr(device.os, "open", refuse)


def test_missing_device_is_explained(missing_device):
    reason = host_unavailable_reason()
    assert reason is not None and "does not exist" in reason and "virtualisation" in reason
    with pytest.raises(HostUnavailable, match="does not exist") as caught:
        HostKvm()
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOENT
    assert workbench.kvm.available_engines() == ["sim"]
    with pytest.raises(HostUnavailable):
        workbench.kvm.open("host")


def test_permission_is_explained(unreadable_device):
    assert "permission denied" in host_unavailable_reason()
    with pytest.raises(HostUnavailable, match="kvm` group") as caught:
        HostKvm()
    assert caught.value.errno == errno.EACCES


def test_a_file_that_is_not_kvm_is_refused(monkeypatch, tmp_path):
    path = tmp_path / "kvm"
    path.write_bytes(b"")
    monkeypatch.setattr(device, "KVM_DEVICE", str(path))
    assert "KVM_GET_API_VERSION" in host_unavailable_reason()
