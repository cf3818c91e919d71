// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry} from "../../src/AnchorRegistry.sol";
import {Test} from "../utils/Test.sol";
import {console} from "../utils/console.sol";
import {AnchorRegistryHandler} from "./handlers/AnchorRegistryHandler.sol";

/// @title AnchorRegistryInvariantTest
/// @notice Properties of the AnchorRegistry that hold after any sequence of appends, refused appends, anchorer and
///         admin changes and the passing of time.
contract AnchorRegistryInvariantTest is Test {
    AnchorRegistry internal registry;
    AnchorRegistryHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        address admin = makeAddr("admin");
        address anchorer = makeAddr("anchorer");
        registry = new AnchorRegistry(admin, anchorer);
        handler = new AnchorRegistryHandler(registry, admin, anchorer);

        // anchor three times: most calls append.
        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = AnchorRegistryHandler.anchor.selector;
        selectors[1] = AnchorRegistryHandler.anchor.selector;
        selectors[2] = AnchorRegistryHandler.anchor.selector;
        selectors[3] = AnchorRegistryHandler.anchorRefused.selector;
        selectors[4] = AnchorRegistryHandler.setAnchorer.selector;
        selectors[5] = AnchorRegistryHandler.transferAdmin.selector;
        selectors[6] = AnchorRegistryHandler.warp.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector(address(handler), selectors));
    }

    /// @dev anchors(0).firstSeq == 0; for all i > 0: anchors(i).firstSeq == anchors(i - 1).lastSeq + 1;
    ///      for all i: firstSeq <= lastSeq; nextSeq == anchors(count - 1).lastSeq + 1 (0 when count == 0)
    function invariant_Ranges_Contiguous() public view {
        uint256 count = registry.anchorCount();
        uint64 expected;
        for (uint256 i; i < count; ++i) {
            AnchorRegistry.Anchor memory a = registry.anchors(i);
            assertEq(a.firstSeq, expected, "range starts where the previous one ended");
            assertLe(a.firstSeq, a.lastSeq, "range is not empty");
            expected = a.lastSeq + 1;
        }
        assertEq(registry.nextSeq(), expected, "nextSeq follows the last range");
    }

    /// @dev anchorCount == #appends; for all i: anchors(i) == the anchor as appended (root, range, time, block);
    ///      for all i: root != 0; and no refused append ever succeeded
    function invariant_Roots_AppendOnly() public view {
        uint256 count = registry.anchorCount();
        assertEq(count, handler.appendedCount(), "one anchor per successful append");
        for (uint256 i; i < count; ++i) {
            AnchorRegistry.Anchor memory now_ = registry.anchors(i);
            AnchorRegistry.Anchor memory then_ = handler.appended(i);
            assertEq(now_.root, then_.root, "root unchanged");
            assertTrue(now_.root != bytes32(0), "root nonzero");
            assertEq(now_.firstSeq, then_.firstSeq, "firstSeq unchanged");
            assertEq(now_.lastSeq, then_.lastSeq, "lastSeq unchanged");
            assertEq(now_.anchoredAt, then_.anchoredAt, "anchoredAt unchanged");
            assertEq(now_.blockNumber, then_.blockNumber, "blockNumber unchanged");
        }
        assertFalse(handler.ghostRefusalViolated(), "a refused append succeeded");
    }

    /// @dev nextSeq >= every value it had before
    function invariant_NextSeq_OnlyGrows() public view {
        assertGe(registry.nextSeq(), handler.ghostMaxNextSeq(), "nextSeq moved back");
    }

    /// Prints how often each action succeeded, to show the handler reaches every action.
    function afterInvariant() public view {
        console.log("anchors, nextSeq", registry.anchorCount(), registry.nextSeq());
        console.log("anchor, anchorRefused", handler.calls("anchor"), handler.calls("anchorRefused"));
        console.log("setAnchorer, transferAdmin", handler.calls("setAnchorer"), handler.calls("transferAdmin"));
        console.log("warp", handler.calls("warp"));
    }
}
