using System.Reflection;
using System.Runtime.Loader;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using NUnit.Framework;

namespace ClDiffusion.Tests.Docs;

/// <summary>
/// Every C# code block of README.md and of every Markdown file under docs/ (found anew on each run, so examples added
/// later are covered) is compiled with Roslyn against the library, as the Program.cs of a `dotnet new console` project
/// (implicit usings on). A block with top-level statements is a program and is run, in a fresh temporary folder;
/// a block whose fence reads ```csharp compile-only is only compiled, and one without statements (types only) is
/// compiled as a library.
/// </summary>
[NonParallelizable]
public class DocExampleTests
{
    public sealed record DocExample(string File, int Line, string Code, bool CompileOnly)
    {
        public override string ToString() => $"{File}:{Line}";
    }

    static readonly Regex Fence = new(@"^(\s*)```+\s*(csharp|cs|c#)\b(.*)$", RegexOptions.IgnoreCase);

    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "ClDiffusion.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no ClDiffusion.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>The Markdown files whose examples must compile: the README and everything under docs/.</summary>
    public static IEnumerable<string> MarkdownFiles()
    {
        var root = RepoRoot();
        yield return Path.Combine(root, "README.md");
        foreach (var f in Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md", SearchOption.AllDirectories).Order())
            yield return f;
    }

    public static IEnumerable<DocExample> Examples(string path)
    {
        var rel = Path.GetRelativePath(RepoRoot(), path).Replace('\\', '/');
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            var m = Fence.Match(lines[i]);
            if (!m.Success) continue;
            int indent = m.Groups[1].Length, start = i + 1;
            var body = new List<string>();
            for (i++; i < lines.Length && !lines[i].TrimStart().StartsWith("```"); i++)
                body.Add(lines[i].Length >= indent && string.IsNullOrWhiteSpace(lines[i][..indent]) ? lines[i][indent..] : lines[i].TrimStart());
            yield return new DocExample(rel, start, string.Join('\n', body), m.Groups[3].Value.Contains("compile-only"));
        }
    }

    public static IEnumerable<TestCaseData> AllExamples() =>
        MarkdownFiles().SelectMany(Examples).Select(e => new TestCaseData(e).SetName($"Example({e})"));

    [Test]
    public void TheFinderSeesTheKnownExamples()
    {
        var all = MarkdownFiles().SelectMany(Examples).ToList();
        Assert.That(all.Select(e => e.File), Does.Contain("README.md").And.Contain("docs/EMBEDDING.md"));
        Assert.That(Examples(Path.Combine(RepoRoot(), "docs", "EMBEDDING.md")).First().Code, Does.Contain("DiffusionEngine.Open"));
    }

    /// <summary>The usings a `dotnet new console` project adds implicitly.</summary>
    const string ImplicitUsings = """
        global using global::System;
        global using global::System.Collections.Generic;
        global using global::System.IO;
        global using global::System.Linq;
        global using global::System.Net.Http;
        global using global::System.Threading;
        global using global::System.Threading.Tasks;
        """;

    /// <summary>
    /// The framework and the libraries (ClDiffusion and its add-on assemblies such as ClDiffusion.Onnx, not the tests
    /// or the CLI) with their dependencies: what a project referencing the packages sees.
    /// </summary>
    static IReadOnlyList<MetadataReference> References()
    {
        var frameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var libraries = tpa.Select(Path.GetFileNameWithoutExtension)
            .Where(n => n is not null && n.StartsWith("ClDiffusion", StringComparison.Ordinal) && n != "ClDiffusion.Tests")
            .Select(n => Assembly.Load(n!)).ToList();
        var library = libraries.SelectMany(a => a.GetReferencedAssemblies().Select(r => r.Name + ".dll").Append(Path.GetFileName(a.Location)))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        return tpa.Where(p => Path.GetDirectoryName(p) == frameworkDir || library.Contains(Path.GetFileName(p)))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
    }

    static readonly Lazy<IReadOnlyList<MetadataReference>> Refs = new(References);

    /// <summary>Compiles one example into `image`; returns whether it is a program (has top-level statements) and its errors.</summary>
    static (bool program, List<Diagnostic> errors) Compile(DocExample e, Stream image)
    {
        var tree = CSharpSyntaxTree.ParseText(e.Code, new CSharpParseOptions(LanguageVersion.Latest), path: e.File);
        bool program = tree.GetCompilationUnitRoot().Members.OfType<GlobalStatementSyntax>().Any();
        var compilation = CSharpCompilation.Create($"DocExample_{Guid.NewGuid():N}",
            [tree, CSharpSyntaxTree.ParseText(ImplicitUsings, new CSharpParseOptions(LanguageVersion.Latest))], Refs.Value,
            new CSharpCompilationOptions(program ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));
        var emitted = compilation.Emit(image);
        return (program, emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList());
    }

    /// <summary>The check can fail: the first EMBEDDING.md example as it was (an undefined n, a type that is not the result's).</summary>
    [Test]
    public void AnExampleThatDoesNotCompileIsCaught()
    {
        var broken = new DocExample("broken.md", 1, """
            using ClDiffusion.Scheduling;
            await using var engine = DiffusionEngine.Open("cpu");
            var model = engine.Load(ClDiffusion.Models.GaussianMixture.Preset(4, 2));
            var samples = new float[n * model.Dim];
            ClDiffusion.Metrics.SampleStats stats = await engine.SampleAsync(model, new SamplingOptions(), n, seed: 7, samples);
            """, false);
        var (_, errors) = Compile(broken, new MemoryStream());
        Assert.That(errors.Select(d => d.Id), Does.Contain("CS0103"), "the undefined n");
        Assert.That(errors.Count, Is.GreaterThanOrEqualTo(2));
    }

    [TestCaseSource(nameof(AllExamples))]
    public void Example(DocExample e)
    {
        using var image = new MemoryStream();
        var (program, errors) = Compile(e, image);
        Assert.That(errors, Is.Empty, $"{e} does not compile against the library:\n" + string.Join('\n', errors.Select(d =>
            $"  line {e.Line + d.Location.GetLineSpan().StartLinePosition.Line}: {d.Id} {d.GetMessage()}")));
        if (!program || e.CompileOnly) return;

        // run it in a fresh folder, its output captured, in a context that unloads afterwards
        var work = Path.Combine(Path.GetTempPath(), $"cldiff-doc-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        var oldDir = Environment.CurrentDirectory; var oldOut = Console.Out; var oldErr = Console.Error;
        var output = new StringWriter();
        var context = new AssemblyLoadContext(e.ToString(), isCollectible: true);
        try
        {
            Environment.CurrentDirectory = work;
            Console.SetOut(output); Console.SetError(output);
            image.Position = 0;
            var entry = context.LoadFromStream(image).EntryPoint!;
            var result = entry.Invoke(null, entry.GetParameters().Length == 0 ? null : [Array.Empty<string>()]);
            if (result is Task t) t.GetAwaiter().GetResult();
        }
        catch (TargetInvocationException x) { Assert.Fail($"{e} threw {x.InnerException}\noutput:\n{output}"); }
        finally
        {
            Console.SetOut(oldOut); Console.SetError(oldErr);
            Environment.CurrentDirectory = oldDir;
            context.Unload();
            Directory.Delete(work, true);
        }
        TestContext.Out.WriteLine(output.ToString());
    }
}
