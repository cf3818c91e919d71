// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title HostileWallet
/// @notice A contract payer whose ERC-1271 check accepts everything (`Accept`, the default, so it can fund a job) or
///         attacks the caller: burns all the gas it is given (`GasBomb`), or refuses with 100,000 bytes of return
///         data (`ReturnBomb`). For the Escrow's signed steps inside `stepMany`.
contract HostileWallet {
    enum Mode {
        Accept,
        GasBomb,
        ReturnBomb
    }

    Mode public mode;

    function setMode(Mode mode_) external {
        mode = mode_;
    }

    function isValidSignature(bytes32, bytes memory) external view returns (bytes4) {
        Mode current = mode;
        if (current == Mode.Accept) return 0x1626ba7e;
        if (current == Mode.ReturnBomb) {
            assembly {
                return(0, 100000)
            }
        }
        uint256 i;
        while (true) {
            ++i;
        }
        return 0;
    }
}
