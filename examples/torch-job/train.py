"""A small training job: a linear model on random data, on the GPU when there is one."""

import torch


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    x = torch.randn(256, 8, device=device)
    y = x @ torch.arange(8.0, device=device) + 1
    model = torch.nn.Linear(8, 1).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(50):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x).squeeze(1), y)
        loss.backward()
        opt.step()
    print(f"torch {torch.__version__} on {device}: loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
