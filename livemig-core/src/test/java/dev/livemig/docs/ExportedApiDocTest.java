package dev.livemig.docs;

import com.sun.source.tree.AnnotationTree;
import com.sun.source.tree.BlockTree;
import com.sun.source.tree.ClassTree;
import com.sun.source.tree.CompilationUnitTree;
import com.sun.source.tree.DirectiveTree;
import com.sun.source.tree.ExportsTree;
import com.sun.source.tree.IdentifierTree;
import com.sun.source.tree.LambdaExpressionTree;
import com.sun.source.tree.MemberSelectTree;
import com.sun.source.tree.MethodTree;
import com.sun.source.tree.ModifiersTree;
import com.sun.source.tree.ModuleTree;
import com.sun.source.tree.NewClassTree;
import com.sun.source.tree.Tree;
import com.sun.source.tree.VariableTree;
import com.sun.source.util.DocTrees;
import com.sun.source.util.JavacTask;
import com.sun.source.util.SourcePositions;
import com.sun.source.util.TreePathScanner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.lang.model.element.Modifier;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The API livemig-core exports is documented: every type of a package that module-info.java exports (without
 * {@code to}), that code outside the module can name, and every constructor, method and field of such a type that
 * code outside can use, has a doc comment. The sources are only parsed (the JDK's compiler tree API, no
 * attribution), so the test reads what is written, and follows the module as its exports change.
 *
 * <p>Not required: enum constants; methods annotated {@code @Override}, which inherit their documentation; a
 * record's compact canonical constructor, whose parameters are the components the record's own comment describes;
 * what the source does not declare (a record's accessors, an enum's values and valueOf); members of types that are
 * private, package-private, local or anonymous, or nested in such a type.
 */
class ExportedApiDocTest {
    private static final String FORMAT_REFERENCE = "docs/format.md";
    private static final String CORE_SOURCES = "livemig-core/src/main/java";

    /** One declaration that lacks its doc comment, as the failure message lists it. */
    private record Missing(String path, long line, String kind, String name) {
        /** In file and line order, as a reader goes through them. */
        static final Comparator<Missing> ORDER = Comparator.comparing(Missing::path)
                .thenComparingLong(Missing::line)
                .thenComparing(Missing::name)
                .thenComparing(Missing::kind);

        @Override
        public String toString() {
            return path + ":" + line + " " + kind + " " + name;
        }
    }

    @Test
    void everyExportedTypeAndEveryMemberOutsideCodeCanUseHasADocComment() throws IOException {
        Path root = RepositoryRoot.find();
        Path sources = root.resolve(CORE_SOURCES);
        List<String> exported = exportedPackages(sources.resolve("module-info.java"));
        assertFalse(exported.isEmpty(), "module-info.java of livemig-core exports no package; is the parse reading it?");

        List<Path> files = new ArrayList<>();
        for (String pkg : exported) {
            Path dir = sources.resolve(pkg.replace('.', '/'));
            assertTrue(Files.isDirectory(dir),
                    () -> "module-info.java exports " + pkg + " but there is no " + root.relativize(dir));
            try (Stream<Path> inDir = Files.list(dir)) {
                // only the package itself: a subpackage is exported (or not) by a line of its own
                inDir.filter(f -> f.toString().endsWith(".java") && !f.getFileName().toString().equals("package-info.java"))
                        .sorted()
                        .forEach(files::add);
            }
        }
        assertFalse(files.isEmpty(), "the exported packages " + exported + " hold no .java file");

        Scan scan = scan(root, files);
        assertTrue(scan.typesChecked() > 0,
                "no exported type found in " + files.size() + " files; is the scan reading them?");
        assertTrue(scan.missing().isEmpty(), () -> scan.missing().size() + " declarations of the exported API ("
                + String.join(", ", exported) + ") have no doc comment:\n  "
                + scan.missing().stream().map(Missing::toString).collect(Collectors.joining("\n  ")));
    }

    /** The scan itself, on one file with a case of each rule: it reports what it must, and only that. */
    @Test
    void theScanReportsEachKindOfUndocumentedDeclarationAndLeavesOutWhatOutsideCodeCannotUse(@TempDir Path root)
            throws IOException {
        Path file = root.resolve("A.java");
        Files.writeString(file, """
                package p;

                /** Documented. */
                public class A {
                    public A() { }
                    /** Documented. */
                    public int documented;
                    public int field;
                    protected void prot() { }
                    void packagePrivate() { }
                    private int hidden;
                    @Override
                    public String toString() { return ""; }
                    public static final Object ANON = new Object() { public void inAnonymousClass() { } };
                    public interface I { void implicitlyPublic(); private void hidden() { } }
                    private static class Hidden { public void inPrivateType() { } }
                    /** Documented. */
                    public enum E { ONE, TWO; public void m() { } }
                    /** Documented, components too. */
                    public record R(int a) { public R { } public R() { this(0); } }
                }

                class PackagePrivate { public void inPackagePrivateType() { } }
                """);
        Scan scan = scan(root, List.of(file));
        assertEquals(List.of("A.java:5 constructor A.A()", "A.java:8 field A.field", "A.java:9 method A.prot()",
                        "A.java:14 field A.ANON", "A.java:15 interface A.I", "A.java:15 method A.I.implicitlyPublic()",
                        "A.java:18 method A.E.m()", "A.java:20 constructor A.R.R()"),
                scan.missing().stream().map(Missing::toString).toList());
        assertEquals(4, scan.typesChecked(), "A, A.I, A.E and A.R, and no other type");
    }

    /** What a scan found: the exported types it looked at and the declarations without a doc comment, sorted. */
    private record Scan(int typesChecked, Set<Missing> missing) {
    }

    /** The packages module-info.java exports to everyone (an {@code exports ... to} is no API), as written. */
    private static List<String> exportedPackages(Path moduleInfo) throws IOException {
        assertTrue(Files.isRegularFile(moduleInfo), () -> moduleInfo + " is missing");
        List<String> packages = new ArrayList<>();
        for (CompilationUnitTree unit : parsed(List.of(moduleInfo)).units()) {
            ModuleTree module = unit.getModule();
            assertNotNull(module, () -> moduleInfo + " declares no module");
            for (DirectiveTree directive : module.getDirectives()) {
                if (directive instanceof ExportsTree exports
                        && (exports.getModuleNames() == null || exports.getModuleNames().isEmpty())) {
                    packages.add(exports.getPackageName().toString());
                }
            }
        }
        return packages;
    }

    /** Parses the files (nothing more: no attribution, no class path) and collects what lacks a doc comment. */
    private static Scan scan(Path root, List<Path> files) throws IOException {
        Parsed parsed = parsed(files);
        DocTrees docs = parsed.docs();
        SourcePositions positions = docs.getSourcePositions();
        Set<Missing> missing = new TreeSet<>(Missing.ORDER);
        int[] typesChecked = {0};
        for (CompilationUnitTree unit : parsed.units()) {
            String path = root.relativize(Path.of(unit.getSourceFile().toUri())).toString();
            new TreePathScanner<Void, Void>() {
                /** The exported types enclosing the current declaration, innermost last. */
                private final List<ClassTree> enclosing = new ArrayList<>();

                @Override
                public Void visitClass(ClassTree type, Void unused) {
                    if (!enclosing.isEmpty() && !isExportedMember(type.getModifiers(), enclosing.getLast())
                            || enclosing.isEmpty() && !type.getModifiers().getFlags().contains(Modifier.PUBLIC)) {
                        return null; // neither it nor anything in it can be named from outside the module
                    }
                    typesChecked[0]++;
                    requireDoc(type, kindOf(type), qualifiedName(type.getSimpleName().toString()));
                    enclosing.add(type);
                    try {
                        scan(type.getMembers(), null);
                    } finally {
                        enclosing.removeLast();
                    }
                    return null;
                }

                @Override
                public Void visitMethod(MethodTree method, Void unused) {
                    ClassTree owner = enclosing.getLast();
                    boolean constructor = method.getReturnType() == null;
                    if (!isExportedMember(method.getModifiers(), owner) || isOverride(method.getModifiers())
                            || constructor && owner.getKind() == Tree.Kind.RECORD && isCompact(method)) {
                        return null;
                    }
                    String params = method.getParameters().stream()
                            .map(p -> p.getType().toString())
                            .collect(Collectors.joining(", ", "(", ")"));
                    String name = constructor ? owner.getSimpleName().toString() : method.getName().toString();
                    requireDoc(method, constructor ? "constructor" : "method", qualifiedName(name + params));
                    return null; // the body declares nothing outside code can reach
                }

                @Override
                public Void visitVariable(VariableTree field, Void unused) {
                    ClassTree owner = enclosing.getLast();
                    if (!isExportedMember(field.getModifiers(), owner) || isEnumConstant(field, owner)) {
                        return null;
                    }
                    requireDoc(field, "field", qualifiedName(field.getName().toString()));
                    return null; // nor does an initializer (an anonymous class is not a type outside code can name)
                }

                @Override
                public Void visitBlock(BlockTree block, Void unused) {
                    return null; // an initializer block
                }

                @Override
                public Void visitNewClass(NewClassTree node, Void unused) {
                    return null;
                }

                @Override
                public Void visitLambdaExpression(LambdaExpressionTree node, Void unused) {
                    return null;
                }

                /** A constructor of a record without a parameter list: the compact form of the canonical one. */
                private boolean isCompact(MethodTree constructor) {
                    long from = Math.max(positions.getStartPosition(unit, constructor),
                            positions.getEndPosition(unit, constructor.getModifiers()));
                    long to = positions.getStartPosition(unit, constructor.getBody());
                    try {
                        CharSequence source = unit.getSourceFile().getCharContent(true);
                        return !source.subSequence((int) from, (int) to).toString().contains("(");
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }

                /** Records the declaration being visited (the current path's leaf) if it has no doc comment. */
                private void requireDoc(Tree declaration, String kind, String name) {
                    String comment = docs.getDocComment(getCurrentPath());
                    if (comment == null || comment.isBlank()) {
                        long line = unit.getLineMap().getLineNumber(positions.getStartPosition(unit, declaration));
                        missing.add(new Missing(path, line, kind, name));
                    }
                }

                private String qualifiedName(String simple) {
                    StringBuilder name = new StringBuilder();
                    for (ClassTree t : enclosing) {
                        name.append(t.getSimpleName()).append('.');
                    }
                    return name.append(simple).toString();
                }
            }.scan(unit, null);
        }
        return new Scan(typesChecked[0], missing);
    }

    /**
     * Whether a member of an exported type can be used from outside the module: public or protected as written,
     * or public implicitly, as everything in an interface or annotation interface that is not private (a type
     * nested in one too). An enum's constructors cannot be public or protected, so they never count.
     */
    private static boolean isExportedMember(ModifiersTree modifiers, ClassTree owner) {
        Set<Modifier> flags = modifiers.getFlags();
        if (flags.contains(Modifier.PRIVATE)) {
            return false;
        }
        if (flags.contains(Modifier.PUBLIC) || flags.contains(Modifier.PROTECTED)) {
            return true;
        }
        return owner.getKind() == Tree.Kind.INTERFACE || owner.getKind() == Tree.Kind.ANNOTATION_TYPE;
    }

    private static boolean isOverride(ModifiersTree modifiers) {
        for (AnnotationTree a : modifiers.getAnnotations()) {
            Tree type = a.getAnnotationType();
            String name = type instanceof IdentifierTree id ? id.getName().toString()
                    : type instanceof MemberSelectTree select ? select.getIdentifier().toString() : type.toString();
            if (name.equals("Override")) {
                return true;
            }
        }
        return false;
    }

    /**
     * An enum constant, as the parser gives it: a field of the enum initialized by {@code new} of the enum itself
     * (which no field of an enum may otherwise be).
     */
    private static boolean isEnumConstant(VariableTree field, ClassTree owner) {
        return owner.getKind() == Tree.Kind.ENUM
                && field.getInitializer() instanceof NewClassTree init
                && init.getIdentifier() instanceof IdentifierTree id
                && id.getName().contentEquals(owner.getSimpleName());
    }

    private static String kindOf(ClassTree type) {
        return switch (type.getKind()) {
            case INTERFACE -> "interface";
            case ENUM -> "enum";
            case RECORD -> "record";
            case ANNOTATION_TYPE -> "annotation";
            default -> "class";
        };
    }

    /** Parsed sources, and the doc comments javac kept while parsing them. */
    private record Parsed(DocTrees docs, List<CompilationUnitTree> units) {
    }

    /**
     * The files parsed by the system compiler, and nothing more: no class path, no annotation processing, no
     * attribution. A syntax error fails the test, as the scan would miss what follows it.
     */
    private static Parsed parsed(List<Path> files) throws IOException {
        JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
        assertNotNull(compiler, "no system Java compiler: the test needs a JDK, not a JRE");
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager fileManager =
                     compiler.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
            Iterable<? extends JavaFileObject> sources = fileManager.getJavaFileObjectsFromPaths(files);
            var task = (JavacTask) compiler.getTask(null, fileManager, diagnostics, List.of("-proc:none"), null, sources);
            List<CompilationUnitTree> units = new ArrayList<>();
            task.parse().forEach(units::add);
            String errors = diagnostics.getDiagnostics().stream()
                    .filter(d -> d.getKind() == Diagnostic.Kind.ERROR)
                    .map(d -> d.getSource().getName() + ":" + d.getLineNumber() + ": " + d.getMessage(Locale.ROOT))
                    .collect(Collectors.joining("\n  "));
            assertTrue(errors.isEmpty(), () -> "the sources do not parse:\n  " + errors);
            return new Parsed(DocTrees.instance(task), units);
        }
    }

}
