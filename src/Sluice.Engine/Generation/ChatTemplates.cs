using Sluice.Core.Generation;
using Sluice.Core.Inference;

namespace Sluice.Engine.Generation;

/// <summary>
/// The chat formats decoder models are trained on, by name. A model's <c>generation.chat_template</c> picks one; rendering
/// ends where the assistant's reply starts, so generation continues as the assistant.
/// </summary>
public static class ChatTemplates
{
    /// <summary>The known template names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["chatml", "llama3", "llama2", "plain"];

    /// <summary>True for a name in <see cref="Names"/>.</summary>
    public static bool IsKnown(string name) => Names.Contains(name, StringComparer.Ordinal);

    /// <summary>Renders <paramref name="messages"/>. Throws <see cref="InferenceException"/> (InvalidInput) naming <c>messages[i].role</c> for unknown roles.</summary>
    public static string Render(string template, IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            throw new InferenceException(InferenceError.InvalidInput, "'messages' must hold at least one message.");
        }

        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i].Role is not ("system" or "user" or "assistant" or "developer"))
            {
                throw new InferenceException(InferenceError.InvalidInput,
                    $"'messages[{i}].role' is '{messages[i].Role}'; expected system, developer, user or assistant.");
            }
        }

        var text = new System.Text.StringBuilder();
        switch (template)
        {
            case "chatml":
                foreach (var m in messages)
                {
                    text.Append("<|im_start|>").Append(RoleOf(m)).Append('\n').Append(m.Content).Append("<|im_end|>\n");
                }

                text.Append("<|im_start|>assistant\n");
                break;
            case "llama3":
                text.Append("<|begin_of_text|>");
                foreach (var m in messages)
                {
                    text.Append("<|start_header_id|>").Append(RoleOf(m)).Append("<|end_header_id|>\n\n").Append(m.Content.Trim()).Append("<|eot_id|>");
                }

                text.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
                break;
            case "llama2":
                RenderLlama2(messages, text);
                break;
            case "plain":
                foreach (var m in messages)
                {
                    text.Append(RoleOf(m)).Append(": ").Append(m.Content).Append('\n');
                }

                text.Append("assistant:");
                break;
            default:
                throw new InferenceException(InferenceError.InvalidInput, $"Unknown chat template '{template}'.");
        }

        return text.ToString();
    }

    private static string RoleOf(ChatMessage message) => message.Role == "developer" ? "system" : message.Role;

    private static void RenderLlama2(IReadOnlyList<ChatMessage> messages, System.Text.StringBuilder text)
    {
        // [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]
        string? system = null;
        var first = true;
        foreach (var m in messages)
        {
            switch (RoleOf(m))
            {
                case "system":
                    system = system is null ? m.Content : system + "\n" + m.Content;
                    break;
                case "user":
                    text.Append(first ? "<s>[INST] " : "<s>[INST] ");
                    if (system is not null)
                    {
                        text.Append("<<SYS>>\n").Append(system).Append("\n<</SYS>>\n\n");
                        system = null;
                    }

                    text.Append(m.Content.Trim()).Append(" [/INST]");
                    first = false;
                    break;
                default:
                    text.Append(' ').Append(m.Content.Trim()).Append(" </s>");
                    break;
            }
        }
    }
}
