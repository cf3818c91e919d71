// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry_Base} from "./Base.t.sol";

/// @notice `anchorCount`.
contract AnchorRegistry_AnchorCount_Test is AnchorRegistry_Base {
    function test_When_Empty_IsZero() public view {
        assertEq(registry.anchorCount(), 0, "empty");
    }

    function test_When_Anchored_CountsEachAnchor() public {
        for (uint64 i; i < 5; ++i) {
            _anchorNext(3, ROOT);
            assertEq(registry.anchorCount(), i + 1, "count");
        }
    }
}
