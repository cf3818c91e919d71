// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title PullToken
/// @notice An ERC-20 with `approve` / `transferFrom` that misbehaves on demand, for the vault's `deposit` paths:
///         `Shortchange` delivers one unit less than pulled (a fee-on-transfer token), `Reenter` calls `target` with
///         `data` before moving funds and bubbles its failure.
contract PullToken {
    enum Mode {
        Honest,
        Shortchange,
        Reenter
    }

    Mode public mode;
    address public target;
    bytes public data;
    mapping(address account => uint256) public balanceOf;
    mapping(address owner => mapping(address spender => uint256)) public allowance;

    function setMode(Mode mode_) external {
        mode = mode_;
    }

    function setReentry(address target_, bytes calldata data_) external {
        target = target_;
        data = data_;
    }

    function mint(address to, uint256 value) external {
        balanceOf[to] += value;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        return true;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        if (mode == Mode.Reenter) {
            (bool ok, bytes memory ret) = target.call(data);
            if (!ok) {
                assembly {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
        }
        allowance[from][msg.sender] -= value;
        balanceOf[from] -= value;
        balanceOf[to] += mode == Mode.Shortchange ? value - 1 : value;
        return true;
    }
}
