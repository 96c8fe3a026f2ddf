/**
 * livemig: QEMU-compatible live migration of a Java application's state (off-heap RAM blocks and registered
 * devices) between processes and hosts. An embedding application builds a {@link dev.livemig.machine.Machine},
 * registers its state ({@link dev.livemig.vmstate.VmStateDescription} for declarative device state,
 * {@link dev.livemig.machine.LiveStateHandler} for state sent while it runs) and drives migrations with a
 * {@link dev.livemig.migration.MigrationController}; a {@link dev.livemig.qmp.QmpServer} lets QEMU's management
 * tools drive it instead. The RAM engine, multifd, the Linux kernel interfaces and analyze are internal.
 * Needs {@code --enable-native-access=dev.livemig.core} (userfaultfd, mmap and io_uring-free syscalls through FFM).
 */
module dev.livemig.core {
    requires java.management;
    requires jdk.management;
    requires jdk.unsupported;
    requires jdk.jfr;
    requires com.github.luben.zstd_jni;
    requires org.bouncycastle.tls;
    requires org.bouncycastle.pkix;
    requires org.bouncycastle.provider;
    requires org.bouncycastle.util;

    exports dev.livemig.machine;
    exports dev.livemig.vmstate;
    exports dev.livemig.migration;
    exports dev.livemig.transport;
    exports dev.livemig.transport.tls;
    exports dev.livemig.wire;
    exports dev.livemig.qmp;
    exports dev.livemig.savevm;
    exports dev.livemig.json;
}
