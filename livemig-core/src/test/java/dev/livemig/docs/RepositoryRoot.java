package dev.livemig.docs;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.fail;

/** The repository's root, for tests that read its documents and sources. */
final class RepositoryRoot {
    private RepositoryRoot() {
    }

    /**
     * Found from the module directory surefire runs in (or any directory below the root): the nearest directory
     * upwards that holds both docs/format.md and pom.xml.
     */
    static Path find() {
        Path start = Path.of("").toAbsolutePath();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("docs/format.md")) && Files.isRegularFile(dir.resolve("pom.xml"))) {
                return dir;
            }
        }
        return fail("no directory from " + start + " upwards holds docs/format.md and pom.xml");
    }
}
