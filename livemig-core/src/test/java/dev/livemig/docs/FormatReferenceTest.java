package dev.livemig.docs;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * docs/format.md is the wire-format reference that comments in the code cite by section number (a section sign
 * followed by N, N.M or N.M.K). Every citation in the Java sources of every module, main and test, must name a
 * heading of that document ({@code ## N.}, {@code ### N.M}, {@code #### N.M.K}), so that a number in a comment
 * always leads to the text it means. A citation written after the name of another document on the same line
 * ({@code docs/qemu-7.2-notes.md} followed by a section number) is looked up in that document instead, which must
 * be in the repository.
 */
class FormatReferenceTest {
    /** The section sign is written as an escape so that this file's own patterns are not taken for citations. */
    private static final Pattern CITATION = Pattern.compile("\u00a7(\\d+(?:\\.\\d+)*)");
    /** A document name ending in .md, as a comment writes it before a citation of that document. */
    private static final Pattern DOCUMENT = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_./-]*\\.md(?![A-Za-z0-9_])");
    /** A numbered heading: its level, its number, and an optional dot after the number. */
    private static final Pattern HEADING = Pattern.compile("^(#{1,6})\\s+(\\d+(?:\\.\\d+)*)\\.?(?=\\s|$)");
    private static final String FORMAT_REFERENCE = "docs/format.md";

    /** One citation: where it is written, the section it names, and the document it names it in. */
    private record Citation(Path file, int line, String section, Path document) {
        String where(Path root) {
            return root.relativize(file) + ":" + line + " cites \u00a7" + section;
        }
    }

    /** A numbered heading of a document, with the line it is on. */
    private record Heading(int level, String number, int line) {
        /** {@code ## 4.}, {@code ### 4.6}, {@code #### 4.6.1}: one more '#' than the number has parts. */
        boolean levelFitsNumber() {
            return level == number.split("\\.").length + 1;
        }
    }

    @Test
    void everySectionTheCodeCitesIsAHeadingOfTheDocumentItCites() throws IOException {
        Path root = RepositoryRoot.find();
        List<Citation> citations = citationsInJavaSources(root);
        assertFalse(citations.isEmpty(), "no citation found in any livemig-*/src; is the scan looking in the right place?");

        Map<Path, Set<String>> sectionsOf = new HashMap<>();
        List<String> unresolved = new ArrayList<>();
        for (Citation c : citations) {
            if (!c.document().startsWith(root) || !Files.isRegularFile(c.document())) {
                unresolved.add(c.where(root) + " of " + root.relativize(c.document().normalize())
                        + ", which is not a document in the repository");
                continue;
            }
            Set<String> sections = sectionsOf.computeIfAbsent(c.document(), FormatReferenceTest::sections);
            if (!sections.contains(c.section())) {
                unresolved.add(c.where(root) + ", but " + root.relativize(c.document()) + " has no heading numbered "
                        + c.section());
            }
        }
        assertTrue(unresolved.isEmpty(), () -> unresolved.size() + " of " + citations.size()
                + " citations lead nowhere:\n  " + String.join("\n  ", unresolved));
    }

    @Test
    void theFormatReferenceNumbersEachSectionOnce() throws IOException {
        Path format = RepositoryRoot.find().resolve(FORMAT_REFERENCE);
        Map<String, List<Integer>> linesOf = new LinkedHashMap<>();
        for (Heading h : headings(format)) {
            linesOf.computeIfAbsent(h.number(), n -> new ArrayList<>()).add(h.line());
        }
        assertFalse(linesOf.isEmpty(), FORMAT_REFERENCE + " has no numbered heading");
        String duplicates = linesOf.entrySet().stream()
                .filter(e -> e.getValue().size() > 1)
                .map(e -> e.getKey() + " at lines " + e.getValue())
                .collect(Collectors.joining("\n  "));
        assertTrue(duplicates.isEmpty(), () -> FORMAT_REFERENCE + " numbers a section twice:\n  " + duplicates);
    }

    @Test
    void everyNumberedHeadingOfTheFormatReferenceHasTheLevelItsNumberHas() throws IOException {
        Path format = RepositoryRoot.find().resolve(FORMAT_REFERENCE);
        String misplaced = headings(format).stream()
                .filter(h -> !h.levelFitsNumber())
                .map(h -> "line " + h.line() + ": " + "#".repeat(h.level()) + " " + h.number())
                .collect(Collectors.joining("\n  "));
        assertTrue(misplaced.isEmpty(), () -> FORMAT_REFERENCE + " has numbered headings that citations cannot reach"
                + " (## N., ### N.M, #### N.M.K):\n  " + misplaced);
    }


    /** Every citation in the .java files of each module's src directory (main and test), in file and line order. */
    private static List<Citation> citationsInJavaSources(Path root) throws IOException {
        List<Path> sourceTrees;
        try (Stream<Path> modules = Files.list(root)) {
            sourceTrees = modules
                    .filter(m -> m.getFileName().toString().startsWith("livemig-") && Files.isDirectory(m.resolve("src")))
                    .map(m -> m.resolve("src"))
                    .sorted()
                    .toList();
        }
        assertFalse(sourceTrees.isEmpty(), "no livemig-* module with a src directory under " + root);
        List<Citation> citations = new ArrayList<>();
        for (Path tree : sourceTrees) {
            List<Path> javaFiles;
            try (Stream<Path> files = Files.walk(tree)) {
                javaFiles = files.filter(f -> f.toString().endsWith(".java") && Files.isRegularFile(f)).sorted().toList();
            }
            for (Path file : javaFiles) {
                List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
                for (int i = 0; i < lines.size(); i++) {
                    citationsOnLine(root, file, i + 1, lines.get(i), citations);
                }
            }
        }
        return citations;
    }

    /** The citations on one line; each one refers to the last document named before it on that line, if any. */
    private static void citationsOnLine(Path root, Path file, int lineNumber, String line, List<Citation> into) {
        Matcher citation = CITATION.matcher(line);
        while (citation.find()) {
            String documentName = null;
            Matcher document = DOCUMENT.matcher(line).region(0, citation.start());
            while (document.find()) {
                documentName = document.group();
            }
            Path cited = documentName == null ? root.resolve(FORMAT_REFERENCE) : resolveDocument(root, documentName);
            into.add(new Citation(file, lineNumber, citation.group(1), cited));
        }
    }

    /** A document as a comment names it: a path from the repository root, or a bare name of a file in docs/. */
    private static Path resolveDocument(Path root, String name) {
        Path fromRoot = root.resolve(name).normalize();
        if (!Files.isRegularFile(fromRoot) && !name.contains("/")) {
            Path inDocs = root.resolve("docs").resolve(name).normalize();
            if (Files.isRegularFile(inDocs)) {
                return inDocs;
            }
        }
        return fromRoot;
    }

    /** The section numbers a citation can reach in a document: those of headings at the level their number has. */
    private static Set<String> sections(Path document) {
        try {
            return headings(document).stream()
                    .filter(Heading::levelFitsNumber)
                    .map(Heading::number)
                    .collect(Collectors.toCollection(TreeSet::new));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The numbered headings of a Markdown document, outside fenced code blocks. */
    private static List<Heading> headings(Path document) throws IOException {
        List<String> lines = Files.readAllLines(document, StandardCharsets.UTF_8);
        List<Heading> headings = new ArrayList<>();
        boolean inFence = false;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.startsWith("```") || line.startsWith("~~~")) {
                inFence = !inFence;
                continue;
            }
            Matcher m = HEADING.matcher(line);
            if (!inFence && m.find()) {
                headings.add(new Heading(m.group(1).length(), m.group(2), i + 1));
            }
        }
        return headings;
    }
}
