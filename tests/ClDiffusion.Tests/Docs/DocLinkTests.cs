using System.Text.RegularExpressions;
using NUnit.Framework;

namespace ClDiffusion.Tests.Docs;

/// <summary>
/// The README and docs/ point only inside the repository: every Markdown file they name exists (relative to the
/// repository root or to the naming file), and none sends the reader to material outside the repository.
/// </summary>
public class DocLinkTests
{
    static readonly Regex MdName = new(@"(?<![\w/.-])([\w.-]+/)*[\w.-]+\.md\b");

    public static IEnumerable<TestCaseData> Files() => DocExampleTests.MarkdownFiles()
        .Select(f => new TestCaseData(f).SetName($"DocLinks({Path.GetRelativePath(DocExampleTests.RepoRoot(), f)})"));

    [TestCaseSource(nameof(Files))]
    public void DocLinks(string file)
    {
        var root = DocExampleTests.RepoRoot();
        var text = File.ReadAllText(file);
        var missing = MdName.Matches(text).Select(m => m.Value).Distinct()
            .Where(name => !name.Contains("://") && !File.Exists(Path.Combine(root, name)) && !File.Exists(Path.Combine(Path.GetDirectoryName(file)!, name)))
            .ToList();
        Assert.That(missing, Is.Empty, $"{Path.GetRelativePath(root, file)} names Markdown files that are not in the repository");
        foreach (var outside in new[] { "shared material", "/work/", "seed/poster" })
            Assert.That(text, Does.Not.Contain(outside), $"{Path.GetRelativePath(root, file)} points outside the repository");
    }
}
