/** livemig's embedding example: an application's state moved live to another process. */
module dev.livemig.examples {
    requires dev.livemig.core;
}
