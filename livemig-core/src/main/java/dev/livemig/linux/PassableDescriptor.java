package dev.livemig.linux;

/**
 * A descriptor that can be passed to another process (SCM_RIGHTS, {@link UnixSocket#sendDescriptor}): guest memory
 * ({@link MemoryFile}) or one of the application's sockets ({@link SocketDescriptor}). The receiver gets its own
 * descriptor for the same open file; this one stays open here.
 */
public sealed interface PassableDescriptor permits MemoryFile, SocketDescriptor {
}
