"""The shared-state profile: every request updates one record shared by all workers."""

import mmap
import multiprocessing
import struct


class SharedState:
    """attempts and value in anonymous shared memory (inherited by forked workers, so the process
    model shares it through the kernel), guarded by a semaphore lock that works across processes
    and threads alike. Racy: the value is read and written back without the lock."""

    def __init__(self, racy):
        self.racy = racy
        self.memory = mmap.mmap(-1, 16)
        self.lock = multiprocessing.Lock()

    def update(self):
        memory = self.memory
        with self.lock:
            attempts, value = struct.unpack_from("qq", memory, 0)
            if self.racy:
                struct.pack_into("q", memory, 0, attempts + 1)
        if self.racy:
            value = struct.unpack_from("q", memory, 8)[0]
            struct.pack_into("q", memory, 8, value + 1)
            return
        with self.lock:
            attempts, value = struct.unpack_from("qq", memory, 0)
            struct.pack_into("qq", memory, 0, attempts + 1, value + 1)

    def read(self):
        attempts, value = struct.unpack_from("qq", self.memory, 0)
        return {"attempts": attempts, "value": value}
